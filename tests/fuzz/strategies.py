"""Hypothesis strategies: raw bytes, and structured inputs close to the real formats (JSON with
hostile values, safetensors headers, TOML, protocol lines, log text) so the fuzz gets past the
first syntax check."""

from __future__ import annotations

import json

from hypothesis import strategies as st

DTYPES = ["F32", "F16", "BF16", "I64", "U8", "BOOL", "F8_E4M3", "F64", "f32", "", "Q4"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.text(max_size=10), children, max_size=5)),
    max_leaves=30,
)


def _dump(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


hostile_json = st.one_of(
    json_values.map(_dump),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=4000, max_value=6000).map(lambda n: b'{"hidden_size": ' + b"9" * n
                                                   + b"}"),
    st.sampled_from([b"NaN", b'{"hidden_size": NaN}', b'{"a": Infinity}', b"-Infinity",
                     b'{"__metadata__": []}', b"\xff\xfe", b"", b"{}", b"[]"]),
)

tensor_entry = st.fixed_dictionaries({
    "dtype": st.one_of(st.sampled_from(DTYPES), scalars),
    "shape": st.one_of(st.lists(st.integers(min_value=-3, max_value=2**64), max_size=4),
                       json_values),
    "data_offsets": st.one_of(
        st.lists(st.integers(min_value=-5, max_value=2**64), min_size=0, max_size=3),
        json_values),
})
safetensors_headers = st.one_of(
    st.dictionaries(st.text(max_size=8), tensor_entry, max_size=4).map(_dump),
    st.dictionaries(st.sampled_from(["__metadata__", "w"]), json_values, max_size=2).map(_dump),
    hostile_json,
)

weight_maps = st.one_of(
    st.fixed_dictionaries({"weight_map": st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.sampled_from(["../../etc/passwd", "/etc/passwd", "model.safetensors",
                                  "a/../../b", "", ".", "..", "C:\\x", "x\0y"]),
                  st.text(max_size=12), json_values), max_size=4)}).map(_dump),
    hostile_json,
)

toml_texts = st.one_of(
    st.builds(lambda section, key, value: f"[{section}]\n{key} = {value}\n".encode(),
              st.sampled_from(["monitor", "guard", "logs", "models", "thresholds.vram",
                               "thresholds.swap_in", "bogus"]),
              st.sampled_from(["interval", "history_seconds", "stall_seconds", "warn", "pause",
                               "abort", "resume", "keep_sessions", "max_mib", "hf_cache",
                               "auto_resume"]),
              st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e309", "0", "-1", "true",
                                         '"x"', "[1]", "{a=1}", "99999999999999999999"]),
                        st.floats().map(repr), st.integers().map(str))),
    st.binary(max_size=200),
)

protocol_lines = st.one_of(
    st.fixed_dictionaries({"v": st.one_of(st.just(1), scalars),
                           "event": st.one_of(st.sampled_from(["hello", "token", "progress",
                                                               "error", "log", "paused"]),
                                              scalars)},
                          optional={"id": scalars, "text": json_values, "message": scalars,
                                    "level": scalars}).map(_dump),
    hostile_json,
)

log_texts = st.one_of(
    st.lists(st.sampled_from([
        "Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
        "    x()", "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "torch.OutOfMemoryError: CUDA out of memory.", "Killed", "\x1b[31merror\x1b[0m",
        "During handling of the above exception, another exception occurred:", "",
        "[rank0]: NCCL error", "\r", "x" * 300,
    ]) | st.text(max_size=40), max_size=30).map(lambda ls: "\n".join(ls).encode()),
    st.binary(max_size=400),
)

any_bytes = st.binary(max_size=300)
