"""The log parser on the traps real logs set: colours, progress bars, prefixes, interleaved
ranks, chains, exception groups, IPython, tracebacks cut at either end, bare exception lines."""

from __future__ import annotations

from console.core.diagnose import calibration, diagnose_text, parse_log
from console.core.diagnose.parser import CODE, EXCEPTION, FRAME, MESSAGE, WARNING, clean_line

TB = '''Traceback (most recent call last):
  File "/srv/app.py", line 3, in <module>
    main()
  File "/srv/app.py", line 2, in main
    raise ValueError("bad config")
ValueError: bad config'''


def test_ansi_colours_and_carriage_return_progress_bars() -> None:
    text, _, _, _ = clean_line("\x1b[31mRuntimeError\x1b[0m: \x1b[1mboom\x1b[0m")
    assert text == "RuntimeError: boom"
    # the last state of a progress bar is what the terminal showed
    text, _, _, _ = clean_line("Loading:  10%|#   |\rLoading:  90%|### |\rLoading: 100%|####|\r")
    assert text == "Loading: 100%|####|"
    assert clean_line("Loading shards: 40%|####  | 2/5\rKilled")[0] == "Killed"


def test_log_prefixes_are_stripped_and_ranks_kept() -> None:
    cases = {
        "[rank1]: Traceback (most recent call last):": ("Traceback (most recent call last):",
                                                        "rank1"),
        "[rank0]:[W1121 15:28:05.588418184 ProcessGroupGloo.cpp:524] Warning: fallback": ("Warning: fallback", "rank0"),
        "ERROR 06-13 07:35:59 [core.py:517]   File \"x.py\", line 1, in f": ('  File "x.py", line '
                                                                             '1, in f', None),
        "(VllmWorker rank=1 pid=4242) INFO 06-13 07:35:59 [worker.py:1] ready": ("ready",
                                                                                 "pid 4242"),
        "[2023-09-18 11:25:48,695] [ERROR] [axolotl.load_model:324] [PID:6348] [RANK:0] Found "
        "modules": (
            "Found modules", "rank0"),
        "2024-06-17T13:18:29.371622Z ERROR shard-manager: died": ("shard-manager: died", None),
        "WARNING:root:careful": ("careful", None),
        "E0814 10:12:17.539000 1402 torch/distributed/elastic/multiprocessing/api.py:869] failed "
        "(exitcode: -9)": (
            "failed (exitcode: -9)", None),
        "> **RuntimeError: CUDA error: invalid device ordinal**": ("RuntimeError: CUDA error: "
                                                                   "invalid device ordinal", None),
        "Error: not a level prefix": ("Error: not a level prefix", None),
        # A GitHub Actions log copied from the web page keeps each line's numbered link.
        "[8130](https://github.com/o/r/actions/runs/6794388851/job/18470729429#step:8:8131)  File "
        '"/t/test.py", line 5, in test_x': ('  File "/t/test.py", line 5, in test_x', None),
    }
    for raw, (text, source) in cases.items():
        got_text, got_source, _, _ = clean_line(raw)
        assert (got_text, got_source) == (text, source), raw


def test_info_level_lines_are_marked() -> None:
    assert clean_line("INFO 08-14 09:12:03 [gpu_worker.py:255] Available KV cache memory: -0.41 "
                      "GiB")[3]
    assert clean_line("node-a:4121:4190 [0] NCCL INFO NET/IB : No device found.")[3]
    assert not clean_line("ERROR 08-14 09:12:03 [core.py:1] boom")[3]


def test_traceback_roles_and_surface() -> None:
    parsed = parse_log(TB)
    assert len(parsed.blocks) == 1
    block = parsed.blocks[0]
    assert block.summary == "ValueError: bad config"
    assert [f.function for f in block.frames] == ["<module>", "main"]
    roles = [line.role for line in parsed.lines]
    assert roles[1] == FRAME and roles[2] == CODE and roles[-1] == EXCEPTION
    assert not block.truncated_tail and block.exceptions[0].truncated_head is False


def test_quoted_code_is_not_a_message() -> None:
    """A source line that mentions an error message is not that error."""
    text = '''Traceback (most recent call last):
  File "/srv/retry.py", line 12, in run
    if "CUDA out of memory" in str(exc) or "Address already in use" in str(exc):
ZeroDivisionError: division by zero'''
    assert diagnose_text(text) == []


def test_chained_exceptions_keep_order_and_relation() -> None:
    text = TB + '''

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/loader.py", line 9, in load
    raise OSError("could not load") from exc
OSError: could not load

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/loader.py", line 20, in <module>
    cleanup()
KeyError: 'handle'
'''
    parsed = parse_log(text)
    assert len(parsed.blocks) == 1
    block = parsed.blocks[0]
    assert [e.type for e in block.exceptions] == ["ValueError", "OSError", "KeyError"]
    assert [e.relation for e in block.exceptions] == ["", "cause", "context"]
    assert block.surface is not None and block.surface.type == "KeyError"


def test_exception_group_sub_tracebacks() -> None:
    text = '''  + Exception Group Traceback (most recent call last):
  |   File "/srv/serve.py", line 14, in <module>
  |     asyncio.run(main())
  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/srv/serve.py", line 4, in serve
    |     server = await asyncio.start_server(handler, "127.0.0.1", port)
    | OSError: [Errno 98] error while attempting to bind on address ('127.0.0.1', 8000): address already in use
    +------------------------------------
'''
    parsed = parse_log(text)
    assert len(parsed.blocks) == 1
    block = parsed.blocks[0]
    assert [e.type for e in block.exceptions] == ["ExceptionGroup", "OSError"]
    assert block.exceptions[1].relation == "group"
    assert [c.id for c in diagnose_text(text)][:1] == ["port_in_use"]


def test_interleaved_ranks_are_kept_apart() -> None:
    text = "\n".join([
        "[rank0]: Traceback (most recent call last):",
        "[rank1]: Traceback (most recent call last):",
        '[rank0]:   File "/w/train.py", line 9, in <module>',
        '[rank1]:   File "/w/train.py", line 7, in <module>',
        "[rank0]:     dist.all_reduce(t)",
        "[rank1]:     model.load_state_dict(sd)",
        "[rank1]: RuntimeError: Error(s) in loading state_dict for Linear:",
        "[rank1]: \tsize mismatch for weight: copying a param with shape torch.Size([8, 4]) from "
        "checkpoint, the shape in current model is torch.Size([4, 4]).",
        "[rank0]: RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection "
        "closed by peer [127.0.0.1]:5234",
    ])
    parsed = parse_log(text)
    by_source = {b.source: b for b in parsed.blocks}
    assert set(by_source) == {"rank0", "rank1"}
    assert "size mismatch for weight" in by_source["rank1"].exceptions[0].message
    assert "Connection closed by peer" in by_source["rank0"].summary
    assert [c.id for c in diagnose_text(text)][:1] == ["size_mismatch"]


def test_traceback_cut_off_at_the_start() -> None:
    text = '''le.py", line 845, in load_state_dict
    self.__class__.__name__, "\\n\\t".join(error_msgs)))
RuntimeError: Error(s) in loading state_dict for Net:
        Missing key(s) in state_dict: "fc.weight", "fc.bias".'''
    block = parse_log(text).blocks[0]
    assert block.exceptions[0].truncated_head
    assert block.surface is not None and block.surface.type == "RuntimeError"
    assert [c.id for c in diagnose_text(text)][:1] == ["missing_or_unexpected_keys"]


def test_traceback_cut_off_at_the_end_keeps_earlier_evidence() -> None:
    text = '''Token indices sequence length is longer than the specified maximum sequence length for this model (1300 > 1024). Running this sequence through the model will result in indexing errors
Traceback (most recent call last):
  File "/srv/summarize.py", line 40, in <module>
    out = model(ids)
  File "/venv/lib/python3.10/site-packages/transformers/models/gpt2/modeling_gpt2.py", line 847, in forward
    position_embeds = self.wpe(position_ids)'''
    block = parse_log(text).blocks[0]
    assert block.truncated_tail and block.surface is None
    causes = diagnose_text(text)
    assert [c.id for c in causes][:1] == ["context_too_long"]
    # only a warning: below what a recognised error message (0.9) gets, as calibrated
    assert causes[0].confidence < calibration.calibrate(0.9)


def test_ipython_traceback() -> None:
    text = '''---------------------------------------------------------------------------
AttributeError                            Traceback (most recent call last)
<ipython-input-3-1f2e> in <cell line: 4>()
      3 tok = AutoTokenizer.from_pretrained(path)
----> 4 model = AutoModel.from_pretrained(path).cuda()

/usr/local/lib/python3.10/dist-packages/transformers/modeling_utils.py in __getattr__(self, name)
    261         if name in self._modules:
--> 262             return self._modules[name]

AttributeError: module 'torch' has no attribute 'compiler'
'''
    block = parse_log(text).blocks[0]
    assert block.summary == "AttributeError: module 'torch' has no attribute 'compiler'"
    assert [f.function for f in block.frames] == ["<cell line: 4>", "__getattr__"]


def test_bare_exception_lines_and_warnings() -> None:
    parsed = parse_log("MemoryError\nsome text\n/x/y.py:12: UserWarning: careful\nKeyError: "
                       "'llama'")
    assert [b.summary for b in parsed.blocks] == ["MemoryError", "KeyError: 'llama'"]
    assert parsed.lines[2].role == WARNING


def test_multi_line_message_belongs_to_the_exception() -> None:
    text = '''ValueError: Couldn't instantiate the backend tokenizer from one of:
(1) a `tokenizers` library serialization file,
(2) a slow tokenizer instance to convert or
(3) an equivalent slow tokenizer class to instantiate and convert.
You need to have sentencepiece installed to convert a slow tokenizer to a fast one.
2024-01-02 10:00:00 INFO server stopped'''
    parsed = parse_log(text)
    exc = parsed.blocks[0].exceptions[0]
    assert "sentencepiece installed" in exc.message and "server stopped" not in exc.message
    assert parsed.lines[4].role == MESSAGE
    assert [c.id for c in diagnose_text(text)][:2] == ["missing_dependency", "tokenizer_error"]


def test_asynchronous_cuda_errors_are_flagged() -> None:
    text = '''Traceback (most recent call last):
  File "/srv/run.py", line 5, in <module>
    torch.cuda.synchronize()
RuntimeError: CUDA error: an illegal memory access was encountered
CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.
For debugging consider passing CUDA_LAUNCH_BLOCKING=1'''
    assert parse_log(text).blocks[0].async_cuda
    # an illegal memory access names no cause of ours: no finding, leads at most, each stated
    # under what a library message named with 0.8 gets (0.4 until session 11, when the map's
    # lead band was refitted with today's leads out of fold: a lead of this raw score is 40%)
    ceiling = calibration.calibrate(0.8)
    assert all(c.lead and c.confidence < ceiling for c in diagnose_text(text))


def test_several_tracebacks_in_one_log() -> None:
    text = TB + "\nretrying...\n" + TB.replace("ValueError: bad config",
                                               "OSError: [Errno 28] No space left on device")
    parsed = parse_log(text)
    assert [b.summary for b in parsed.blocks] == ["ValueError: bad config",
                                                  "OSError: [Errno 28] No space left on device"]
    causes = diagnose_text(text)
    assert causes[0].id == "permission_or_disk"
    assert all(c.confidence < 0.2 for c in causes[1:])  # the runners-up are weak leads only


def test_windows_line_endings_and_empty_input() -> None:
    assert parse_log("").blocks == ()
    assert diagnose_text("") == []
    parsed = parse_log(TB.replace("\n", "\r\n"))
    assert parsed.blocks[0].summary == "ValueError: bad config"


def test_rich_traceback_box() -> None:
    text = '''╭───────────────────── Traceback (most recent call last) ─────────────────────╮
│ /usr/local/lib/python3.10/dist-packages/peft/peft_model.py:827 in forward    │
│                                                                              │
│ ❱  827 │   │   │   return self.base_model(  # "CUDA out of memory" in a comment │
│                                                                              │
│ /usr/local/lib/python3.10/dist-packages/torch/nn/modules/module.py:1501 in   │
│ _call_impl                                                                   │
╰──────────────────────────────────────────────────────────────────────────────╯
RuntimeError: Expected all tensors to be on the same device, but found at least two devices, cuda:1 and cuda:0!'''
    parsed = parse_log(text)
    block = parsed.blocks[0]
    assert block.frames[0].file.endswith("peft_model.py")
    assert block.summary.startswith("RuntimeError: Expected all tensors")
    causes = diagnose_text(text)
    assert causes[0].id == "device_mismatch"
    assert all(c.confidence < 0.2 for c in causes[1:])  # the boxed source is not evidence


def test_ipython8_frames() -> None:
    text = '''---------------------------------------------------------------------------
ImportError                               Traceback (most recent call last)
Cell In[4], line 2
      1 from transformers import AutoModelForCausalLM
----> 2 model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="flash_attention_2")
File /usr/local/lib/python3.10/dist-packages/transformers/utils/import_utils.py:1603, in _LazyModule._get_module(self, module_name)
   1602 try:
-> 1603     return importlib.import_module("." + module_name, self.__name__)
ImportError: /usr/local/lib/python3.10/dist-packages/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi'''
    block = parse_log(text).blocks[0]
    assert [(f.file, f.line) for f in block.frames] == [
        ("In[4]", 2), ("/usr/local/lib/python3.10/dist-packages/transformers/utils/import_utils.py",
                       1603)]
    assert [c.id for c in diagnose_text(text)][:1] == ["flash_attention"]


def test_a_message_wrapped_over_lines_is_matched_whole() -> None:
    # A terminal (or an issue form) wrapped the message: no single line holds the library's
    # words, the joined message does.
    text = ("Traceback (most recent call last):\n"
            '  File "/srv/train.py", line 3, in <module>\n'
            "RuntimeError: CUDA out of\n"
            "memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity)\n")
    causes = diagnose_text(text)
    assert causes and causes[0].id == "cuda_oom" and not causes[0].lead, causes
    for line in ("RuntimeError: CUDA out of",
                 "memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity)"):
        assert all(c.id != "cuda_oom" or c.lead for c in diagnose_text(line))
