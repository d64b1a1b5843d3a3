import { defineConfig } from "vitest/config";

// No framework plugin: esbuild compiles the JSX for Preact's automatic runtime.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
  server: {
    // `npm run dev` against a local yoi-server (default port 8787).
    proxy: { "/api": { target: "http://127.0.0.1:8787", ws: true } },
    // src/codes.ts imports the error table from docs/golden.
    fs: { allow: [".", "../docs/golden"] },
  },
  test: { environment: "node", include: ["test/**/*.test.ts"] },
});
