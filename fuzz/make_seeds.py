#!/usr/bin/env python3
"""Writes the hand-made seed corpus (fuzz/corpus/<target>/): valid and
near-valid inputs per target. Re-run after changing an input layout."""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# request_json: byte 0 selects the decoder (0 create, 1 input, 2 cancel,
# 3 stop, 4..9 replies, 10 an events page read in place), the rest is the body.
R = "request_json"
put(R, "create_empty", b"\x00")
put(R, "create_full", b"\x00" + b'{"worker_id":"w-1","display_name":"Helper","intent":{"kind":"task","objective":"sum"},'
    b'"profile":"runtime_default","config_bundle":"b1","capabilities":["x"],"workspace_refs":["ws"],"mount_refs":["m"]}')
put(R, "create_role", b"\x00" + b'{"intent":{"kind":"role","role":"reviewer","purpose":"p"}}')
put(R, "create_bad_id", b"\x00" + b'{"worker_id":"../etc"}')
put(R, "create_unknown_key", b"\x00" + b'{"wat":1}')
put(R, "create_wrong_type", b"\x00" + b'{"display_name":7}')
put(R, "input", b"\x01" + b'{"content":"hello","client_message_id":"m-1"}')
put(R, "input_unicode", b"\x01" + '{"content":"\\u00e9t\\u00e9 \\ud83d\\ude00 ok"}'.encode())
put(R, "input_missing", b"\x01" + b'{}')
put(R, "input_null", b"\x01" + b'{"content":null}')
put(R, "input_truncated", b"\x01" + b'{"content":"he')
put(R, "cancel_reason", b"\x02" + b'{"reason":"user"}')
put(R, "stop_empty", b"\x03")
put(R, "stop_array", b"\x03" + b'[1,2]')
put(R, "deep", b"\x00" + b"[" * 200 + b"]" * 200)
put(R, "reply_detail", b"\x04" + b'{"runtime_id":"r","worker_id":"w","display_name":"d","status":"idle","created_at":"t"}')
put(R, "reply_page", b"\x05" + b'{"workers":[{"runtime_id":"r","worker_id":"w","display_name":"d","status":"idle"}],"next":"x"}')
put(R, "reply_accepted", b"\x06" + b'{"accepted":true,"run_id":"r1","seq":3,"duplicate":false}')
put(R, "reply_cancel", b"\x07" + b'{"cancelled":true,"run_id":"r1","status":"idle"}')
put(R, "reply_transcript", b"\x08" + b'{"items":[{"role":"user","content":"hi"}],"total":1}')
put(R, "reply_summary", b"\x09" + b'{"runtime_id":"r","display_name":"d","epoch":"e","version":"0.1.0","status":"ready","capabilities":["create"]}')
put(R, "events_page", b"\x0a" + b'{"events":[{"cursor":"r1.e.t.7","seq":7,"event":{"type":"text_delta","seq":7,"delta":"a}\\"b"}},'
    b'{"cursor":"r1.e.t.8","seq":8,"event":{"type":"run_finished","seq":8}}],"cursor":"r1.e.t.8","last_seq":9}')
put(R, "events_page_empty", b"\x0a" + b'{"events":[],"cursor":"r1.e.t.0","last_seq":0}')
put(R, "events_page_leading_zero", b"\x0a" + b'{"events":[{"cursor":"c","seq":07,"event":{}}],"cursor":"c","last_seq":7}')

# runtime_cursor
C = "runtime_cursor"
put(C, "valid", "r1.0123456789abcdef.a1b2c3d4e5f6.42")
put(C, "zero", "r1.ab.000000000000.0")
put(C, "max_seq", "r1.ab.000000000000.18446744073709551615")
put(C, "overflow", "r1.ab.000000000000.18446744073709551616")
put(C, "short_tag", "r1.ab.0000.1")
put(C, "no_seq", "r1.ab.000000000000.")
put(C, "negative", "r1.ab.000000000000.-1")
put(C, "backend_style", "b1.AAAA.1.AAAAAAAAAAAAAAAAAAAAAA")
put(C, "roundtrip_seed", struct.pack("<Q", 7) + b"worker-1")

# backend_cursor
B = "backend_cursor"
put(B, "shape", "b1.ZXBvY2g.12.AAAAAAAAAAAAAAAAAAAAAA")
put(B, "empty_epoch", "b1..0.AAAAAAAAAAAAAAAAAAAAAA")
put(B, "bad_b64", "b1.*.1.AAAAAAAAAAAAAAAAAAAAAA")
put(B, "len_mod_4_1", "b1.A.1.AAAAAAAAAAAAAAAAAAAAAA")
put(B, "runtime_style", "r1.ab.000000000000.1")
put(B, "roundtrip_seed", struct.pack("<Q", 12345) + b"0123456789abcdef0123456789abcdef")
put(B, "roundtrip_max", struct.pack("<Q", 2**64 - 1) + b"e")

# config_runtime (yoi-runtime) and config_server (yoi-server): the TOML text.
T = "config_runtime"
put("config_runtime", "full", b'''[runtime]
id = "gpu-1"
display_name = "GPU box"
listen = "127.0.0.1:0"
store = "memory"
heartbeat_interval_ms = 1000
fsync = "batch"
fsync_batch_interval_ms = 5

[limits]
max_workers = 10
max_content_bytes = 1024
max_body_bytes = 65536
ws_max_message_bytes = 4096
request_timeout_ms = 1000
header_timeout_ms = 2000
keep_alive_timeout_ms = 30000

[profiles.fast]
engine = "echo"
echo_chunk_bytes = 4
echo_chunk_delay_ms = 0

[profiles.gpt]
engine = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "m"
api_key_env = "YOI_FUZZ_NO_SUCH_VAR"
system_prompt = "be brief"
temperature = 0.5
max_tokens = 100
''')
put("config_runtime", "unknown_key", b'[runtime]\nbogus = 1\n')
put("config_runtime", "bad_type", b'[runtime]\nid = 5\n')
put("config_runtime", "negative", b'[limits]\nmax_workers = -1\n')
put("config_runtime", "huge", b'[runtime]\nheartbeat_interval_ms = 9223372036854775807\n')
put("config_runtime", "broken", b'[runtime\nid = "x"\n')
put("config_server", "full", b'''listen = "127.0.0.1:8787"
data_dir = "./.yoi-data"
web_dir = "web/dist"

[embedded]
enabled = true
id = "local"
display_name = "Local runtime"
store = "memory"
fsync = "none"
echo_chunk_delay_ms = 0

[[runtimes]]
id = "gpu-1"
display_name = "GPU box"
base_url = "http://127.0.0.1:8788"
token_env = "YOI_FUZZ_NO_SUCH_VAR"
timeout_ms = 10000
connect_timeout_ms = 3000
probe_interval_ms = 5000

[limits]
header_timeout_ms = 2000
keep_alive_timeout_ms = 30000
''')
put("config_server", "dup", b'[[runtimes]]\nid = "a"\nbase_url = "http://h:1"\n[[runtimes]]\nid = "a"\nbase_url = "http://h:1"\n')
put("config_server", "bad_url", b'[[runtimes]]\nid = "a"\nbase_url = "ftp://x"\n')
put("config_server", "unknown", b'wat = true\n')
put("config_server", "inline", b'embedded = { enabled = false }\nruntimes = []\n')

# sse: byte 0 seeds the slicing.
S = "sse"
put(S, "openai_stream", b"\x05" + b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":" there"}}]}\n\ndata: [DONE]\n\n')
put(S, "crlf_multiline", b"\x11" + b"\xef\xbb\xbfevent: update\r\nid: 7\r\ndata: a\r\ndata: b\r\n\r\n: comment\r\nretry: 10\r\n\r\n")
put(S, "cr_only", b"\x02" + b"data: x\rdata:y\r\r")
put(S, "unterminated", b"\x03" + b"data: never ends")
put(S, "no_data", b"\x04" + b"event: ping\n\n")
put(S, "field_no_colon", b"\x07" + b"data\n\ndata:\n\n")

# chat_stream: byte 0 seeds the slicing; then a provider's raw SSE stream of
# chat-completion chunks (an event named "whole" is a non-streamed completion).
C = "chat_stream"
def chunk(delta, finish=None):
    return b'data: {"choices":[{"index":0,"delta":' + delta + b',"finish_reason":' + \
        (b'"' + finish + b'"' if finish else b'null') + b'}]}\n\n'
def tc(index, rest):
    return chunk(b'{"tool_calls":[{"index":' + str(index).encode() + rest + b'}]}')
put(C, "text", b"\x05" + chunk(b'{"content":"Hi "}') + chunk(b'{"content":"caf\xc3') +
    chunk(b'{"content":"\xa9"}', b"stop") + b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n")
put(C, "two_calls", b"\x09" + tc(0, b',"id":"a","type":"function","function":{"name":"read","arguments":"{\\"pa"}') +
    tc(1, b',"id":"b","function":{"name":"glob","arguments":""}') +
    tc(0, b',"function":{"arguments":"th\\":\\"x\\"}"}') + tc(1, b',"function":{"arguments":"{}"}') +
    chunk(b"{}", b"tool_calls") + b"data: [DONE]\n\n")
put(C, "split_utf8_args", b"\x13" + chunk(b'{"content":"ok","tool_calls":[{"index":0,"id":"c","function":{"name":"write","arguments":"{\\"t\\":\\"\xf0\x9f"}}]}') +
    tc(0, b',"function":{"arguments":"\x98\x80\\\\"}"}') + tc(0, b',"function":{"arguments":"\\"}"}') +
    chunk(b"{}", b"stop"))
put(C, "no_index", b"\x21" + chunk(b'{"tool_calls":[{"id":"a","function":{"name":"read","arguments":"{}"}}]}') +
    chunk(b'{"tool_calls":[{"id":"b","function":{"name":"grep","arguments":{"pattern":"x"}}}]}') +
    b"data: [DONE]\n\n")
put(C, "whole", b"\x02" + b'event: whole\ndata: {"choices":[{"message":{"content":null,"tool_calls":[{"id":"c",'
    b'"function":{"name":"read","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}\n\n')
put(C, "no_name", b"\x07" + tc(0, b',"id":"a","function":{"arguments":"{}"}') + b"data: [DONE]\n\n")
put(C, "bounds", b"\x0b" + b"".join(tc(i, b',"function":{"name":"f","arguments":"' + b"x" * 100 + b'"}') for i in range(3)) +
    tc(0, b',"function":{"arguments":"' + b"y" * 200 + b'"}') + b"data: [DONE]\n\n")
put(C, "error", b"\x03" + chunk(b'{"content":"a"}') + b'data: {"error":{"message":"boom"}}\n\n')

# ws_runtime / ws_backend: byte 0 flags (bits 0-1 path, 2 raw, 3 cursor,
# 4 unmasked, 5 64-bit lengths, 6 valid cursor); then frames of
# [header][len][payload].
def frames(*fs):
    out = b""
    for head, payload in fs:
        if len(payload) >= 255:
            out += bytes([head, 255]) + struct.pack(">H", len(payload)) + payload
        else:
            out += bytes([head, len(payload)]) + payload
    return out

for W in ("ws_runtime", "ws_backend"):
    put(W, "snapshot_only", b"\x00")
    put(W, "stopped_worker", b"\x01")
    put(W, "missing_worker", b"\x02")
    put(W, "bad_path", b"\x03")
    put(W, "text_message", b"\x00" + frames((0x81, b'{"type":"hello"}')))
    put(W, "ping_pong_close", b"\x00" + frames((0x89, b"p"), (0x8A, b""), (0x88, b"\x03\xe8bye")))
    put(W, "fragmented", b"\x00" + frames((0x01, b"frag"), (0x80, b"ment")))
    put(W, "binary_big", b"\x00" + frames((0x82, b"x" * 5000)))
    put(W, "unmasked", b"\x10" + frames((0x81, b"hi")))
    put(W, "long_form", b"\x20" + frames((0x89, b"ping")))
    put(W, "reserved_opcode", b"\x00" + frames((0x83, b"?"), (0xC1, b"rsv")))
    put(W, "bad_close_code", b"\x00" + frames((0x88, b"\x00\x01")))
    put(W, "truncated", b"\x00" + bytes([0x81, 100]) + b"short")
    put(W, "raw_garbage", b"\x04" + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
    put(W, "cursor_garbage", b"\x08" + b"not-a-cursor\n")
    put(W, "cursor_valid_0", b"\x48" + b"\x00\n")
    put(W, "cursor_valid_2", b"\x48" + b"\x02\n" + frames((0x88, b"\x03\xe8")))
    put(W, "cursor_future", b"\x48" + b"\x07\n")
    put(W, "cursor_stopped", b"\x49" + b"\x01\n")

# tools: byte 0 picks the tool (0 read, 1 write, 2 edit, 3 glob, 4 grep,
# 5 the resolver; bit 7 asks the resolver for write); the rest is the
# arguments object, or the path/pattern itself when it is not JSON.
T = "tools"
put(T, "read", b"\x00" + b'{"path": "notes.md", "offset": 2, "limit": 1}')
put(T, "read_escape", b"\x00" + b"../outside/secret.txt")
put(T, "read_link_out", b"\x00" + b"/work/out/secret.txt")
put(T, "read_ws_link", b"\x00" + b"/workspaces/rw/secret-link")
put(T, "write", b"\x01" + b'{"path": "/workspaces/rw/new/f.txt", "content": "x\\n"}')
put(T, "write_ro", b"\x01" + b'{"path": "/workspaces/ro/readme.md", "content": "x"}')
put(T, "edit", b"\x02" + b'{"path": "notes.md", "old_string": "beta", "new_string": "BETA"}')
put(T, "edit_all", b"\x02" + b'{"path": "notes.md", "old_string": "a", "new_string": "", "replace_all": true}')
put(T, "glob", b"\x03" + b'{"pattern": "**/*.cpp"}')
put(T, "glob_stars", b"\x03" + b"**/**/**/*[a-z]?*")
put(T, "grep", b"\x04" + b'{"pattern": "ret(urn)?", "case_insensitive": true, "glob": "*.cpp"}')
put(T, "grep_patho", b"\x04" + b"(a*)*b")
put(T, "grep_path_out", b"\x04" + b'{"pattern": ".", "path": "/work/out"}')
put(T, "resolve", b"\x05" + b"/work/../workspaces/ro/./x")
put(T, "resolve_write_ro", b"\x85" + b"/workspaces/ro/x")
put(T, "resolve_nul", b"\x05" + b"a\x00b")
put(T, "wrong_types", b"\x00" + b'{"path": 1, "limit": "x"}')
