#pragma once
// Where the CLI finds yoi-server's access token (ARCHITECTURE §18), so that
// `yoi runtimes` works without flags when run as the same user as the
// server. The first that is set wins:
//   1. --token-file FILE
//   2. $YOI_ACCESS_TOKEN
//   3. $YOI_DATA_DIR/access-token
//   4. ./.yoi-data/access-token   (yoi-server's default data dir, and
//                                  ./scripts/run's)
// Files 3 and 4 count only when they exist. None at all: an empty Secret
// (the server runs --no-auth, or answers 401).

#include <functional>
#include <string>

#include "yoi/error.hpp"
#include "yoi/secret.hpp"

namespace yoi::cli {

using Getenv = std::function<const char*(const char*)>;

// invalid_request naming the file (never the token) when a file that is
// given or found cannot be read, is empty or is too large.
Result<Secret> find_access_token(const std::string& token_file, const Getenv& getenv);

}  // namespace yoi::cli
