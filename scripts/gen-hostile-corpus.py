#!/usr/bin/env python3
"""Generates shared/tests/data/hostile-frames.jsonl: the checked-in corpus of hostile frames.

Deterministic (fixed seed), so regenerating gives the same file. One JSON object per line:
  {"kind": ..., "state": "joined" | "fresh", "expect": <error code>, and one of
   "text": <the WebSocket text message> | "binary_len": <n> | "flood": <number of sends>}
`state` is what the socket must be in when the frame arrives: "fresh" (connected, not joined)
or "joined". The native test (worker/tests/hostile.rs) and the integration test
(itest/tests/hostile.rs) both replay it: every frame gets its code, and the socket and the room
keep serving.
"""
import json, random

rng = random.Random(20261127)
KEY = "k" * 40
out = []

def add(kind, expect, text=None, state="joined", **extra):
    # Anything over 16 KiB is refused for its size before it is read.
    if text is not None and len(text.encode()) > 16 * 1024:
        expect = "frame_too_large"
    row = {"kind": kind, "state": state, "expect": expect}
    if text is not None:
        row["text"] = text
    row.update(extra)
    out.append(row)

def send(text, cid="c1"):
    return json.dumps({"type": "send", "data": {"client_id": cid, "text": text}}, ensure_ascii=False)

def join(name, key=KEY, **more):
    return json.dumps({"type": "join", "data": {"v": 2, "name": name, "key": key, **more}}, ensure_ascii=False)

def op(kind, **data):
    return json.dumps({"type": kind, "data": {"client_id": "o1", **data}}, ensure_ascii=False)

# 1. Not JSON at all.
junk = ["", " ", "ping ", "PING", "pong", "hello", "{", "}", "[", "{\"type\":", "{'type':'send'}", "undefined",
        "NaN", "Infinity", "-", "+1", "0x10", "tru", "nul", "\"unterminated", "{\"type\":\"send\",}", "//", "/* */",
        "<xml/>", "\x00", "\ufeff{}", "{\"type\":\"send\"\"data\":{}}", "\\", "\"\\u12\""]
for j in junk:
    add("not_json", "bad_frame", j)
for _ in range(120):
    n = rng.randint(1, 60)
    add("not_json", "bad_frame", "".join(chr(rng.choice([rng.randint(0x21, 0x7e), rng.randint(0xa1, 0x2fff)])) for _ in range(n)) + "{")
for _ in range(40):
    valid = send("hello")
    add("truncated_json", "bad_frame", valid[: rng.randint(1, len(valid) - 1)])

# 2. JSON of the wrong shape.
shapes = ["null", "true", "false", "0", "-1", "1e999", "\"send\"", "[]", "[1,2,3]", "{}", "{\"data\":{}}",
          "{\"type\":null}", "{\"type\":1}", "{\"type\":[\"send\"]}", "{\"type\":{\"send\":1}}", "{\"type\":\"send\"}",
          "{\"type\":\"send\",\"data\":null}", "{\"type\":\"send\",\"data\":[]}", "{\"type\":\"send\",\"data\":\"hi\"}",
          "{\"type\":\"send\",\"data\":1}", "{\"type\":\"join\",\"data\":[]}", "{\"type\":\"history\",\"data\":null}",
          "[{\"type\":\"send\",\"data\":{\"client_id\":\"c\",\"text\":\"x\"}}]", "{\"TYPE\":\"send\"}",
          "{\"type\":\"send\",\"data\":{\"client_id\":\"c\"}}", "{\"type\":\"send\",\"data\":{\"text\":\"x\"}}",
          "{\"type\":\"join\",\"data\":{\"name\":\"a\"}}", "{\"type\":\"join\",\"data\":{\"key\":\"" + KEY + "\"}}",
          "{\"type\":\"history\",\"data\":{}}"]
for s in shapes:
    add("wrong_shape", "bad_frame", s)
for _ in range(100):
    obj = {rng.choice(["type", "data", "x", "Type", "kind"]): rng.choice([None, 1, "send", [], {}, True, "join"]) for _ in range(rng.randint(0, 3))}
    if obj.get("type") in ("send", "join") and isinstance(obj.get("data"), dict):
        continue
    if obj.get("type") == "typing" or (obj.get("type") in ("send", "join", "history") and "data" in obj and isinstance(obj["data"], dict)):
        continue
    add("wrong_shape", "bad_frame", json.dumps(obj))

# 3. Unknown types.
for t in ["dance", "Send", "SEND", "join ", " send", "ack", "welcome", "message", "error", "member_joined",
          "admin", "kick", "reaction", "ban", "__proto__", "constructor", "", "send\u0000", "séND", "💬"]:
    add("unknown_type", "bad_frame", json.dumps({"type": t, "data": {}}))
for i in range(80):
    t = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(1, 20)))
    if t in ("join", "send", "typing", "history", "edit", "delete", "react", "append", "finish", "moderate", "audit"):
        continue
    add("unknown_type", "bad_frame", json.dumps({"type": t, "data": {"text": "x"}}))

# 4. Wrong field types.
bad_values = [None, 1, -1, 1.5, True, [], {}, ["x"], {"a": 1}]
for v in bad_values:
    add("wrong_field_type", "bad_frame", json.dumps({"type": "send", "data": {"client_id": v, "text": "x"}}))
    add("wrong_field_type", "bad_frame", json.dumps({"type": "send", "data": {"client_id": "c", "text": v}}))
    add("wrong_field_type", "bad_frame", json.dumps({"type": "join", "data": {"name": v, "key": KEY}}))
    add("wrong_field_type", "bad_frame", json.dumps({"type": "join", "data": {"name": "n", "key": v}}))
    if v is not None:
        add("wrong_field_type", "bad_frame", json.dumps({"type": "join", "data": {"name": "n", "key": KEY, "since": v if not isinstance(v, int) or isinstance(v, bool) or v < 0 else "x"}}))
    add("wrong_field_type", "bad_frame", json.dumps({"type": "history", "data": {"before": v if v != 1 else "1", "limit": 5}}))
    if v is not None:
        add("wrong_field_type", "bad_frame", json.dumps({"type": "history", "data": {"before": 5, "limit": v if v != 1 else "1"}}))
for _ in range(60):
    field = rng.choice(["client_id", "text"])
    v = rng.choice(bad_values[1:])
    data = {"client_id": "c", "text": "x"}
    data[field] = v
    add("wrong_field_type", "bad_frame", json.dumps({"type": "send", "data": data}))

# 5. Huge and odd numbers.
for n in ["1e400", "-1", "-0.5", "0.5", "18446744073709551616", "99999999999999999999999999", "1e19", "-9223372036854775809",
          "1.0e2", "NaN", "Infinity", "0x10", "00"]:
    add("huge_number", "bad_frame", '{"type":"history","data":{"before":%s,"limit":5}}' % n)
    add("huge_number", "bad_frame", '{"type":"history","data":{"before":5,"limit":%s}}' % n)
for n in [0, 101, 1000, 4294967295]:
    add("huge_number", "bad_request", json.dumps({"type": "history", "data": {"before": 5, "limit": n}}))
add("huge_number", "bad_frame", json.dumps({"type": "history", "data": {"before": 5, "limit": 4294967296}}))

# 6. Deep nesting (within the size limit; serde stops at depth 128).
for depth in [129, 200, 500, 1000, 2000, 4000, 8000]:
    add("deep_nesting", "bad_frame", "[" * depth + "]" * depth)
    add("deep_nesting", "bad_frame", '{"a":' * depth + "1" + "}" * depth)
    inner = '{"x":' * depth + "1" + "}" * depth
    if len(inner) < 16000:
        add("deep_nesting", "bad_frame", '{"type":"send","data":%s}' % inner)

# 7. Over the size limit (the room may close the socket with 1009 after the error).
for size in [16 * 1024 + 1, 17000, 20000, 65536, 200000]:
    add("too_large", "frame_too_large", send("x" * size))
    add("too_large", "frame_too_large", "[" * size)
for size in [16 * 1024 + 1, 65536]:
    add("too_large_binary", "frame_too_large", binary_len=size)

# 8. Control characters in text.
controls = [c for c in range(0x00, 0x20) if c not in (0x09, 0x0A, 0x0D)] + [0x7F] + list(range(0x80, 0xA0))
for c in controls:
    add("control_in_text", "bad_request", send("hello" + chr(c) + "world"))
    add("control_in_text", "bad_request", send(chr(c) + "x"))

# 9. Names with control, bidi and invisible characters, or of the wrong length.
invisible = [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067,
             0x2068, 0x2069, 0x200E, 0x200F, 0x061C, 0x00AD, 0x180E, 0x2061, 0x2062, 0x2063, 0x2064]
# Rust's White_Space includes these controls: at either end, trimming removes them (valid).
trimmed = {0x0B, 0x0C, 0x85}
for c in invisible + controls:
    names = ["ali" + chr(c) + "ce"] + ([] if c in trimmed else [chr(c) + "bob", "carol" + chr(c)])
    for name in names:
        add("bad_name", "invalid_name", join(name), state="fresh")
for name in ["", "   ", "\t", "x" * 33, "é" * 33, "🙂" * 33]:
    add("bad_name", "invalid_name", join(name), state="fresh")
for key in ["", "short", "k" * 31, "k" * 129, "k" * 39 + " ", "k" * 39 + "!", "ключ" * 10]:
    add("bad_key", "bad_request", join("dave", key), state="fresh")

# 10. Frames before join.
for frame in [send("hi"), '{"type":"typing","data":{}}', '{"type":"history","data":{"before":5,"limit":5}}']:
    for i in range(5):
        add("before_join", "not_joined", frame, state="fresh")

# 11. A second join on a joined socket.
for i in range(10):
    add("second_join", "bad_request", join("name%d" % i))

# 12. Empty and over-long text; bad client ids.
for t in ["", " ", "\n", "\t\t", "\r\n", " \n \t "]:
    add("empty_text", "empty_text", send(t))
for n in [4001, 4002, 5000, 8000]:
    add("text_too_long", "text_too_long", send("y" * n))
add("text_too_long", "text_too_long", send("🙂" * 4001))
for cid in ["", "a b", "a/b", "x" * 65, "é", "<script>", "a\u0000"]:
    add("bad_client_id", "bad_request", json.dumps({"type": "send", "data": {"client_id": cid, "text": "hi"}}, ensure_ascii=False))

# 13. Binary frames.
for n in [0, 1, 2, 16, 100, 1000, 16384]:
    add("binary", "bad_frame", binary_len=n)

# 14. Protocol 2 operations: wrong shapes, invalid values, ids the room does not have.
MISSING = 9_000_000_000
for data in [{}, {"id": "1"}, {"id": -1}, {"id": 1.5}, {"id": None}, {"text": "x"}, {"id": 1, "text": 5}]:
    add("bad_op", "bad_frame", op("edit", **data))
for data in [{}, {"id": "1"}, {"id": []}, {"id": True}]:
    add("bad_op", "bad_frame", op("delete", **data))
for data in [{"id": 1, "emoji": "x"}, {"id": 1, "on": True}, {"emoji": "x", "on": True}, {"id": 1, "emoji": 1, "on": True},
             {"id": 1, "emoji": "x", "on": "yes"}, {"id": 1, "emoji": "x", "on": 1}]:
    add("bad_op", "bad_frame", op("react", **data))
add("bad_op", "bad_frame", json.dumps({"type": "send", "data": {"client_id": "o1", "text": "x", "reply_to": "1"}}))
add("bad_op", "bad_frame", json.dumps({"type": "send", "data": {"client_id": "o1", "text": "x", "reply_to": -3}}))
for t in ["", " ", "\n\t"]:
    add("bad_op", "empty_text", op("edit", id=1, text=t))
add("bad_op", "text_too_long", op("edit", id=1, text="z" * 4001))
add("bad_op", "bad_request", op("edit", id=1, text="a\u0007b"))
for e in ["", " ", "a b", "\u200b", "\u202e", "\u200d", "\ufe0f", "x" * 17, "🙂" * 17, "a\nb", "\u0000", "\u2066x"]:
    add("bad_reaction", "invalid_reaction", op("react", id=1, emoji=e, on=True))
for kind, data in [("edit", {"id": MISSING, "text": "x"}), ("delete", {"id": MISSING}),
                   ("react", {"id": MISSING, "emoji": "👍", "on": True}), ("react", {"id": MISSING, "emoji": "👍", "on": False}),
                   ("send", {"text": "re", "reply_to": MISSING})]:
    add("op_on_missing", "message_not_found", op(kind, **data))
for frame in [op("edit", id=1, text="x"), op("delete", id=1), op("react", id=1, emoji="👍", on=True)]:
    add("before_join", "not_joined", frame, state="fresh")
# A protocol 1 page (no `v`): refused, and the socket closed with 4001 ("reload").
for v in [None, 1, 3, 0]:
    data = {"name": "old", "key": KEY}
    if v is not None:
        data["v"] = v
    add("old_protocol", "unsupported_version", json.dumps({"type": "join", "data": data}), state="fresh")
# ...told to reload whatever else is wrong with its join.
for data in [{"name": "", "key": KEY}, {"name": "ok", "key": "short"}, {"name": "a\u202eb", "key": KEY, "v": 1}]:
    add("old_protocol", "unsupported_version", json.dumps({"type": "join", "data": data}, ensure_ascii=False), state="fresh")

# 15. Rooms with owners. The socket is a plain member (the watcher joined first and owns the
# room): every valid action is `forbidden`; malformed ones are refused for their shape first.
for data in [{}, {"action": None}, {"action": "mute"}, {"action": {}}, {"action": {"kind": "kick"}},
             {"action": {"kind": "mute"}}, {"action": {"kind": "mute", "member": "2", "minutes": 5}},
             {"action": {"kind": "mute", "member": 2, "minutes": -5}}, {"action": {"kind": "slow_mode"}},
             {"action": {"kind": "topic", "text": 5}}, {"action": {"kind": "set_role", "member": 2, "role": "god"}},
             {"action": {"kind": "ban", "member": 2, "ip": "yes"}}, {"action": {"kind": "remove", "id": -1}}]:
    add("bad_moderation", "bad_frame", op("moderate", **data))
for action in [{"kind": "mute", "member": 2, "minutes": 10081}, {"kind": "slow_mode", "seconds": 121},
               {"kind": "topic", "text": "t" * 201}, {"kind": "topic", "text": "two\nlines"},
               {"kind": "topic", "text": "bell\u0007"}, {"kind": "set_role", "member": 2, "role": "owner"},
               {"kind": "set_role", "member": 2, "role": "bot"}, {"kind": "revoke_invite", "code": ""},
               {"kind": "revoke_invite", "code": "c" * 65}]:
    add("bad_moderation", "bad_request", op("moderate", action=action))
for action in [{"kind": "create_bot", "name": ""}, {"kind": "create_bot", "name": "a\u202eb"}]:
    add("bad_moderation", "invalid_name", op("moderate", action=action))
for action in [{"kind": "mute", "member": 1, "minutes": 5}, {"kind": "ban", "member": 1, "ip": True, "purge": True},
               {"kind": "unban", "member": 1}, {"kind": "slow_mode", "seconds": 120}, {"kind": "topic", "text": "mine"},
               {"kind": "invite_only", "on": True}, {"kind": "create_invite"}, {"kind": "revoke_invite", "code": "i1"},
               {"kind": "set_role", "member": 1, "role": "moderator"}, {"kind": "create_bot", "name": "evilbot"},
               {"kind": "revoke_bot", "member": 1}, {"kind": "remove", "id": MISSING}]:
    add("not_a_moderator", "forbidden", op("moderate", action=action))
for data in [{"limit": 0}, {"limit": 101}]:
    add("not_a_moderator", "bad_request", json.dumps({"type": "audit", "data": data}))
for data in [{"limit": 10}, {}, {"before": 5, "limit": 1}]:
    add("not_a_moderator", "forbidden", json.dumps({"type": "audit", "data": data}))
add("bad_stream", "forbidden", json.dumps({"type": "send", "data": {"client_id": "o1", "text": "x", "streaming": True}}))
add("bad_stream", "bad_frame", json.dumps({"type": "send", "data": {"client_id": "o1", "text": "x", "streaming": "yes"}}))
for data in [{}, {"id": MISSING}, {"text": "x"}, {"id": "1", "text": "x"}, {"id": 1, "text": None}]:
    add("bad_stream", "bad_frame", op("append", **data))
add("bad_stream", "empty_text", op("append", id=1, text=""))
add("bad_stream", "text_too_long", op("append", id=1, text="z" * 4001))
add("bad_stream", "bad_request", op("append", id=1, text="a\u0000b"))
add("bad_stream", "message_not_found", op("append", id=MISSING, text=" more"))
add("bad_stream", "message_not_found", op("finish", id=MISSING))
add("bad_stream", "bad_frame", op("finish"))
for code in ["", "i" * 65]:
    add("bad_invite", "bad_request", join("invited", invite=code), state="fresh")
add("bad_invite", "bad_frame", join("invited", invite=5), state="fresh")

# 15. Floods (last: what they store is broadcast to every joined socket) far over the rate limit.
for n in [60, 100]:
    add("flood", "rate_limited", flood=n)

with open("shared/tests/data/hostile-frames.jsonl", "w") as f:
    for row in out:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
print(f"{len(out)} hostile frames")
