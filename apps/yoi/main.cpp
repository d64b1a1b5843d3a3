// yoi: the command-line client of yoi-server. Everything lives in cli/.
#include "yoi/cli/cli.hpp"

int main(int argc, char** argv) { return yoi::cli::run(argc, argv); }
