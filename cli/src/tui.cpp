// The ncurses shell of `yoi tui`: one event loop that poll()s the terminal,
// the selected worker's event stream (Follower's socket), a self-pipe for
// signals and one for the catalog thread, and paints at most ~30 times a
// second. Decisions live in the model (tui_model.hpp); this file reads keys,
// carries out actions against the browser API and paints the grid.
#include "tui.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <clocale>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "follow.hpp"
#include "tui_model.hpp"
#include "tui_view.hpp"
#include "yoi/json.hpp"

// Last: curses.h defines macros (scroll, timeout, move, …) that would
// rewrite names in the headers above.
#define NCURSES_WIDECHAR 1
#include <curses.h>
#undef scroll
#undef timeout

namespace yoi::cli {

namespace bj = boost::json;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace tui;

namespace {

// A redraw at most this often, however fast the stream runs.
constexpr milliseconds kFrame{33};
// How long one loop turn may spend reading the stream before it paints.
constexpr milliseconds kStreamBudget{20};
// The worker list is fetched this often (statuses change without a key).
constexpr milliseconds kCatalogEvery{1000};
// How long "stream resumed" stays on the status line.
constexpr milliseconds kGoodNewsFor{3000};

// ------------------------------------------------------------ terminal restore
//
// Every way out restores the terminal: the Terminal guard's destructor
// (normal exit, an error, an exception), an atexit hook, and for a crash a
// signal handler that does only async-signal-safe things — tcsetattr() to
// the saved modes and write() of the precomputed "leave the alternate screen,
// show the cursor, plain text" sequence — then dies by the same signal.

struct termios g_saved_modes;
bool g_have_modes = false;
char g_leave_seq[256];
std::size_t g_leave_len = 0;
volatile std::sig_atomic_t g_curses_on = 0;
int g_signal_pipe[2] = {-1, -1};

void emergency_restore() {
  if (!g_curses_on) return;
  g_curses_on = 0;
  if (g_have_modes) ::tcsetattr(0, TCSANOW, &g_saved_modes);
  if (g_leave_len) [[maybe_unused]]
    auto n = ::write(1, g_leave_seq, g_leave_len);
}

void on_crash(int sig) {
  emergency_restore();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void on_quit_signal(int sig) {
  unsigned char b = static_cast<unsigned char>(sig);
  if (g_signal_pipe[1] >= 0) [[maybe_unused]]
    auto n = ::write(g_signal_pipe[1], &b, 1);
}

void append_cap(const char* name) {
  const char* s = tigetstr(name);
  if (s == nullptr || s == reinterpret_cast<const char*>(-1)) return;
  auto n = std::strlen(s);
  if (g_leave_len + n < sizeof g_leave_seq) {
    std::memcpy(g_leave_seq + g_leave_len, s, n);
    g_leave_len += n;
  }
}

enum Pair : short { p_user = 1, p_code, p_tool, p_ok, p_failed, p_waiting, p_notice };

class Terminal {
 public:
  Terminal() {
    std::setlocale(LC_ALL, "");
    g_have_modes = ::tcgetattr(0, &g_saved_modes) == 0;
    set_escdelay(25);
    initscr();
    g_curses_on = 1;
    g_leave_len = 0;
    append_cap("sgr0");
    append_cap("cnorm");
    append_cap("rmcup");
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
    // The mouse is optional: a click picks a worker, the wheel scrolls.
    mousemask(BUTTON1_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED, nullptr);
    mouseinterval(0);
    // Colours follow the terminal (its own background and foreground);
    // NO_COLOR (https://no-color.org): attributes only.
    const char* no_color = std::getenv("NO_COLOR");
    color_ = has_colors() && !(no_color && *no_color);
    if (color_) {
      start_color();
      use_default_colors();
      init_pair(p_user, COLOR_CYAN, -1);
      init_pair(p_code, COLOR_GREEN, -1);
      init_pair(p_tool, COLOR_BLUE, -1);
      init_pair(p_ok, COLOR_GREEN, -1);
      init_pair(p_failed, COLOR_RED, -1);
      init_pair(p_waiting, COLOR_YELLOW, -1);
      init_pair(p_notice, COLOR_YELLOW, -1);
    }
    std::atexit(emergency_restore);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, on_crash);
  }
  ~Terminal() {
    if (g_curses_on) {
      endwin();
      g_curses_on = 0;
    }
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, SIG_DFL);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  attr_t attr(Style s) const {
    auto c = [&](short pair, attr_t plain) -> attr_t { return color_ ? COLOR_PAIR(pair) : plain; };
    switch (s) {
      case Style::normal:
        return A_NORMAL;
      case Style::dim:
        return A_DIM;
      case Style::bold:
        return A_BOLD;
      case Style::bar:
        return A_REVERSE;
      case Style::selected:
        return A_REVERSE | A_BOLD;
      case Style::user:
        return c(p_user, A_NORMAL) | A_BOLD;
      case Style::code:
        return c(p_code, A_NORMAL);
      case Style::tool:
        return c(p_tool, A_NORMAL);
      case Style::ok:
        return c(p_ok, A_NORMAL);
      case Style::failed:
        return c(p_failed, A_BOLD);
      case Style::waiting:
        return c(p_waiting, A_UNDERLINE) | A_BOLD;
      case Style::notice:
        return c(p_notice, A_BOLD);
    }
    return A_NORMAL;
  }

  void paint(const Grid& g) {
    std::wstring run;
    for (int r = 0; r < g.height; ++r) {
      int c = 0;
      while (c < g.width) {
        Style st = g.at(r, c).style;
        int start = c;
        run.clear();
        for (; c < g.width && g.at(r, c).style == st; ++c)
          if (g.at(r, c).ch != 0) run += static_cast<wchar_t>(g.at(r, c).ch);
        attrset(attr(st));
        mvaddnwstr(r, start, run.c_str(), static_cast<int>(run.size()));
      }
    }
    attrset(A_NORMAL);
    if (g.cursor_row >= 0) {
      curs_set(1);
      wmove(stdscr, g.cursor_row, g.cursor_col);
    } else {
      curs_set(0);
    }
    refresh();
  }

 private:
  bool color_ = false;
};

// Reads every key waiting on the terminal.
std::optional<Key> read_key(bool& resized, std::optional<MEVENT>& mouse) {
  wint_t ch = 0;
  int r = wget_wch(stdscr, &ch);
  if (r == ERR) return std::nullopt;
  if (r == KEY_CODE_YES) {
    switch (ch) {
      case KEY_RESIZE:
        resized = true;
        return Key{Key::character, 0};
      case KEY_MOUSE: {
        MEVENT me{};
        if (getmouse(&me) == OK) mouse = me;
        return Key{Key::character, 0};
      }
      case KEY_UP:
        return key(Key::up);
      case KEY_DOWN:
        return key(Key::down);
      case KEY_LEFT:
        return key(Key::left);
      case KEY_RIGHT:
        return key(Key::right);
      case KEY_HOME:
        return key(Key::home);
      case KEY_END:
        return key(Key::end);
      case KEY_PPAGE:
        return key(Key::page_up);
      case KEY_NPAGE:
        return key(Key::page_down);
      case KEY_BACKSPACE:
        return key(Key::backspace);
      case KEY_DC:
        return key(Key::del);
      case KEY_ENTER:
        return key(Key::enter);
      case KEY_BTAB:
        return key(Key::tab);
      case KEY_F(1):
        return key(Key::f1);
      default:
        return Key{Key::character, 0};
    }
  }
  switch (ch) {
    case 13:
      return key(Key::enter);
    case 10:
      return key(Key::alt_enter);  // Ctrl-J
    case 9:
      return key(Key::tab);
    case 8:
    case 127:
      return key(Key::backspace);
    case 27: {
      // Esc alone, or Alt-<key> (the terminal sends Esc first).
      wint_t next = 0;
      int r2 = wget_wch(stdscr, &next);
      if (r2 == ERR) return key(Key::esc);
      if (r2 == OK && (next == 13 || next == 10)) return key(Key::alt_enter);
      if (r2 == OK && next >= 0x20) return key_char(static_cast<char32_t>(next));
      return key(Key::esc);
    }
    default:
      if (ch >= 1 && ch <= 26) return key_ctrl(static_cast<char>('a' + ch - 1));
      if (ch < 0x20) return Key{Key::character, 0};
      return key_char(static_cast<char32_t>(ch));
  }
}

// ------------------------------------------------------------ the catalog

// Fetches the runtimes and workers every second on its own thread (with its
// own HTTP client), so a slow server never stalls the keys or the stream.
class CatalogPoller {
 public:
  CatalogPoller(const HttpClient& like, int notify_fd)
      : http_(like.endpoint(), like.token(),
              std::min<milliseconds>(like.timeout(), milliseconds(5000))),
        api_(http_),
        notify_fd_(notify_fd),
        thread_([this] { loop(); }) {}
  ~CatalogPoller() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void poke() {
    {
      std::lock_guard lk(mu_);
      poked_ = true;
    }
    cv_.notify_all();
  }
  std::optional<Catalog> take() {
    std::lock_guard lk(mu_);
    return std::exchange(latest_, std::nullopt);
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    while (!stop_) {
      lk.unlock();
      Catalog c;
      auto rts = api_.get("/api/runtimes");
      auto ws = rts ? api_.get("/api/workers?limit=1000")
                    : CliResult<bj::value>(tl::unexpected(rts.error()));
      if (rts && ws)
        c = catalog_from(*rts, *ws);
      else
        c.error = fmt::format("worker list: {}: {}", (rts ? ws : rts).error().code,
                              (rts ? ws : rts).error().message);
      lk.lock();
      latest_ = std::move(c);
      char b = 1;
      [[maybe_unused]] auto n = ::write(notify_fd_, &b, 1);
      cv_.wait_for(lk, kCatalogEvery, [&] { return stop_ || poked_; });
      poked_ = false;
    }
  }

  HttpClient http_;
  Api api_;
  int notify_fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, poked_ = false;
  std::optional<Catalog> latest_;
  std::thread thread_;
};

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fd, O_CLOEXEC | O_NONBLOCK) != 0) fd[0] = fd[1] = -1;
  }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void drain() const {
    char buf[256];
    while (::read(fd[0], buf, sizeof buf) > 0) {
    }
  }
};

std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ------------------------------------------------------------ the loop

class Tui {
 public:
  explicit Tui(Api& api) : api_(api) {}

  CliResult<void> run(std::optional<WorkerRef> start) {
    Pipe sig, cat;
    if (sig.fd[0] < 0 || cat.fd[0] < 0)
      return cli_fail(kExitUsage, "usage", "cannot create a pipe");
    g_signal_pipe[0] = sig.fd[0];
    g_signal_pipe[1] = sig.fd[1];
    struct sigaction sa {};
    sa.sa_handler = on_quit_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int {
    }, old_term{}, old_hup{};
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    struct Restore {
      struct sigaction i, t, h;
      ~Restore() {
        sigaction(SIGINT, &i, nullptr);
        sigaction(SIGTERM, &t, nullptr);
        sigaction(SIGHUP, &h, nullptr);
        g_signal_pipe[0] = g_signal_pipe[1] = -1;
      }
    } restore{old_int, old_term, old_hup};

    Terminal term;
    model_.set_server(api_.http().endpoint().display);
    CatalogPoller catalog(api_.http(), cat.fd[1]);
    catalog_ = &catalog;
    if (start) {
      model_.set_focus(Model::Focus::composer);
      open(*start);
    }
    bool dirty = true;
    auto next_draw = clock::now();
    auto last_draw = clock::now();
    for (;;) {
      auto now = clock::now();
      auto wake = dirty ? next_draw : now + milliseconds(1000);
      if (follower_) wake = std::min(wake, follower_->due());
      if (reopen_at_) wake = std::min(wake, *reopen_at_);
      if (clear_note_at_) wake = std::min(wake, *clear_note_at_);
      int timeout = static_cast<int>(std::clamp<std::int64_t>(
          std::chrono::duration_cast<milliseconds>(wake - now).count(), 0, 1000));
      pollfd fds[4] = {
          {0, POLLIN, 0}, {sig.fd[0], POLLIN, 0}, {cat.fd[0], POLLIN, 0}, {-1, POLLIN, 0}};
      if (follower_) fds[3].fd = follower_->wait_fd();
      int n = ::poll(fds, 4, timeout);
      if (n < 0 && errno != EINTR) return cli_fail(kExitUsage, "usage", "poll failed");
      if (fds[1].revents & POLLIN) return {};  // SIGINT / SIGTERM / SIGHUP
      // Keys (also after EINTR: a resize arrives as KEY_RESIZE).
      bool resized = false;
      std::optional<MEVENT> mouse;
      while (auto k = read_key(resized, mouse)) {
        dirty = true;
        if (mouse) {
          if (mouse->bstate & BUTTON4_PRESSED) model_.wheel(3);
          if (mouse->bstate & BUTTON5_PRESSED) model_.wheel(-3);
          if ((mouse->bstate & BUTTON1_CLICKED) && mouse->x < last_.list_width && mouse->y >= 0 &&
              mouse->y < static_cast<int>(last_.worker_at_row.size()))
            act(model_.click_worker(last_.worker_at_row[static_cast<std::size_t>(mouse->y)]));
          mouse.reset();
        }
        if (k->kind == Key::character && k->ch == 0) continue;
        auto a = model_.on_key(*k);
        if (a.kind == Action::quit) return {};
        act(a);
      }
      if (resized) dirty = true;
      if (fds[2].revents & POLLIN) {
        cat.drain();
        if (auto c = catalog.take()) {
          model_.set_catalog(std::move(*c));
          dirty = true;
        }
      }
      if (reopen_at_ && clock::now() >= *reopen_at_ && model_.console().ref) {
        reopen_at_.reset();
        auto ref = *model_.console().ref;
        open(ref, true);
        dirty = true;
      }
      if (follower_ && pump()) dirty = true;
      if (clear_note_at_ && clock::now() >= *clear_note_at_) {
        clear_note_at_.reset();
        model_.stream_note("");
        dirty = true;
      }
      now = clock::now();
      if (now - last_draw >= milliseconds(1000)) dirty = true;  // "5s ago" keeps counting
      if (dirty && now >= next_draw) {
        model_.set_now_ms(wall_ms());
        int h = 0, w = 0;
        getmaxyx(stdscr, h, w);
        last_ = render(model_, w, h);
        term.paint(last_);
        dirty = false;
        last_draw = now;
        next_draw = now + kFrame;
      }
    }
  }

 private:
  // Opens `ref`'s stream (and console). On a failure the console says why
  // and it is tried again in a while.
  void open(const WorkerRef& ref, bool again = false) {
    follower_.reset();
    if (!again) model_.select(ref);
    follower_ = std::make_unique<Follower>(api_, ref, [this](const std::string& note) {
      model_.stream_note(note);
      // Good news is said for a moment; trouble stays until it is over.
      clear_note_at_ =
          note == "stream resumed" ? std::optional(clock::now() + kGoodNewsFor) : std::nullopt;
    });
    auto s = follower_->start(std::nullopt, false);
    if (!s) {
      follower_.reset();
      model_.stream_note(fmt::format("{}: {}; trying again", s.error().code, s.error().message));
      // A worker that is not there (deleted, a typo) is not retried.
      if (s.error().code != "worker_not_found" && s.error().code != "invalid_id")
        reopen_at_ = clock::now() + milliseconds(2000);
      else
        model_.stream_note(fmt::format("{}: {}", s.error().code, s.error().message));
    }
  }

  // Feeds the model what the stream has, for at most kStreamBudget.
  bool pump() {
    bool any = false;
    auto until = clock::now() + kStreamBudget;
    while (follower_ && clock::now() < until) {
      auto fr = follower_->next(milliseconds(0));
      if (!fr) {
        model_.stream_note(fmt::format("{}: {}", fr.error().code, fr.error().message));
        follower_.reset();
        return true;
      }
      if (!*fr) break;
      model_.apply(**fr);
      any = true;
    }
    return any;
  }

  void report(const CliResult<bj::value>& r, std::string ok_text) {
    if (r)
      model_.flash(std::move(ok_text));
    else
      model_.flash(fmt::format("{}: {}", r.error().code, r.error().message));
  }

  void act(const Action& a) {
    switch (a.kind) {
      case Action::none:
      case Action::quit:
        return;
      case Action::open:
        open(a.ref);
        return;
      case Action::send: {
        auto r = api_.send_input(a.ref, a.text);
        if (!r) report(r, "");
        return;
      }
      case Action::cancel:
        report(api_.call("POST", worker_path(a.ref) + "/cancel", "{}"), "cancel requested");
        return;
      case Action::approve:
      case Action::deny: {
        bj::object body;
        body["decision"] = a.kind == Action::approve ? "approve" : "deny";
        if (a.kind == Action::deny && !a.text.empty()) body["reason"] = a.text;
        if (a.remember) body["remember"] = true;
        auto r = api_.call("POST", worker_path(a.ref) + "/approvals/" + query_escape(a.call_id),
                           json::serialize(body));
        report(r, a.kind == Action::deny ? "denied"
                  : a.remember           ? "approved; always allowed from now on"
                                         : "approved");
        return;
      }
      case Action::create: {
        bj::object intent;
        intent["kind"] = "assistant";
        bj::object body;
        body["intent"] = std::move(intent);
        auto r = api_.call("POST", fmt::format("/api/runtimes/{}/workers", a.runtime_id),
                           json::serialize(body));
        report(r, "created");
        if (r && r->is_object()) {
          WorkerRef ref{std::string(json::str_or_empty(r->as_object(), "runtime_id")),
                        std::string(json::str_or_empty(r->as_object(), "worker_id"))};
          if (ref.runtime_id.empty()) ref.runtime_id = a.runtime_id;
          model_.flash(fmt::format("created {}/{}", ref.runtime_id, ref.worker_id));
          model_.set_focus(Model::Focus::composer);
          open(ref);
        }
        catalog_->poke();
        return;
      }
      case Action::stop:
        report(api_.call("POST", worker_path(a.ref) + "/stop", "{}"),
               fmt::format("stopped {}/{}", a.ref.runtime_id, a.ref.worker_id));
        catalog_->poke();
        return;
      case Action::remove: {
        auto r = api_.call("DELETE", worker_path(a.ref));
        report(r, fmt::format("deleted {}/{}", a.ref.runtime_id, a.ref.worker_id));
        const auto& cur = model_.console().ref;
        if (r && cur && cur->runtime_id == a.ref.runtime_id && cur->worker_id == a.ref.worker_id) {
          follower_.reset();
          reopen_at_.reset();
        }
        catalog_->poke();
        return;
      }
    }
  }

  Api& api_;
  Model model_;
  std::unique_ptr<Follower> follower_;
  std::optional<clock::time_point> reopen_at_;
  std::optional<clock::time_point> clear_note_at_;
  CatalogPoller* catalog_ = nullptr;
  Grid last_{1, 1};  // what is on the screen (where a click landed)
};

}  // namespace

CliResult<void> run_tui(Api& api, std::optional<WorkerRef> start) {
  if (!::isatty(0) || !::isatty(1))
    return cli_fail(kExitUsage, "usage", "yoi tui needs a terminal on standard input and output");
  try {
    Tui t(api);
    return t.run(std::move(start));
  } catch (const std::exception& e) {
    // The Terminal guard has restored the screen by now.
    return cli_fail(kExitServerError, "internal_error", e.what());
  }
}

}  // namespace yoi::cli
