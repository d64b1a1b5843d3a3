import { render } from "preact";
import { App } from "./app";
import { adoptFragmentToken } from "./auth";
import { tokens } from "./services";
import "./styles.css";

// A login URL (`/#token=…`): keep the token, clean the address bar, then route.
adoptFragmentToken(window.location, window.history, tokens);

render(<App />, document.getElementById("app")!);
