"""Every code ``qrt lint`` reports: what it means, why it matters, a bad and a fixed example.

This table is the one source for ``qrt lint --explain CODE``, ``docs/lint.md`` (written by
``scripts/write_lint_docs.py``, checked in sync by a test), SARIF rule metadata, and the tests:
each bad example must produce its code at ``line``/``column`` and the fixed one must lint
clean (``model`` names the built-in model a model-aware example runs against).

Codes: ``QRT0xx`` are lint checks; ``QRT1xx`` model, inventory and file problems; ``QRT2xx``
input that cannot be read (its front end's own error, the first or every problem it found);
``QRT3xx`` the eager runtime; ``QRT4xx`` graph mode; ``QRT5xx`` finalize, save and export. The
table is the one list of every code qrt emits — lint findings and the errors commands raise
(``raised_as``); a test checks that every ``QrtError`` class's code is here.
"""

from __future__ import annotations

from dataclasses import dataclass

from qrt.lint.diagnostics import Severity

__all__ = ["CODES", "CodeInfo", "code_info"]


@dataclass(frozen=True)
class CodeInfo:
    code: str
    name: str
    severity: Severity
    summary: str
    explanation: str
    bad: str
    fixed: str
    file: str = "rules.qrt"
    """the example's file name (its suffix picks the front end)"""
    line: int = 1
    column: int = 1
    model: str | None = None
    """the built-in model a model-aware example runs against"""
    needs_model: bool = False
    raised_as: str | None = None
    """the :class:`~qrt.errors.QrtError` class that carries this code (``except qrt.<class>``)"""
    lint: bool = True
    """``qrt lint`` reports it; ``False`` for an error only a command or the API raises (a
    model that cannot be built, a file that cannot be written …)"""


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

_ALL = [
    # ---- static checks ------------------------------------------------------------------
    CodeInfo(
        "QRT001", "short-class-name", _W,
        "a class named by its short name",
        "`type Linear` compares with the last part of every class name, so it also matches "
        "`my_lib.Linear` or a class of that name from another library. Name the class fully "
        "(`torch.nn.modules.linear.Linear`), or ModelOpt's way for torch.nn (`nn.Linear`). "
        "With `--model` the resolver's own class matching settles it (docs/semantics.md §2): a bare "
        "name that names exactly one class of the model is accepted, and the finding is info "
        "naming that class; one that names several is an error listing them (resolving "
        "refuses it) — also for a bare `module_type_configs` key, which is otherwise "
        "accepted, as the worked examples of docs/semantics.md §3 write it.",
        "type Linear weight -> int8 per_channel\n",
        "type torch.nn.modules.linear.Linear weight -> int8 per_channel\n",
        column=6,
    ),
    CodeInfo(
        "QRT002", "unescaped-dot", _W,
        "a regex with an unescaped '.' between name parts",
        "Module and op names are dotted; in a regex `.` is any character, so "
        "`/model.layers.\\d+.mlp/` also matches `model_layers_3_mlp`. A regex that escapes "
        "`\\d` but not its dots has slipped; escape literal dots. A plain dotted name "
        "(`decoder.deconv1`, the way the examples of docs/semantics.md §3 write module names) is not reported.",
        "module /model.layers.\\d+.mlp.down_proj/ weight -> int8 per_channel\n",
        "module /model\\.layers\\.\\d+\\.mlp\\.down_proj/ weight -> int8 per_channel\n",
        column=8,
    ),
    CodeInfo(
        "QRT003", "nested-quantifier", _W,
        "a regex with a repeat inside a repeat",
        "`(a+)+` and `(.*)*` take exponential time in a backtracking regex engine. qrt "
        "matches with RE2 (linear time), but the same pattern in the reference library or any "
        "Python `re` code can hang a run. Repeat once.",
        "module /(layers\\.\\d+\\.)+mlp.*/ -> off\n",
        "module /(layers\\.\\d+\\.)mlp.*/ -> off\n",
        column=8,
    ),
    CodeInfo(
        "QRT004", "glob-in-regex", _W,
        "a glob written where a regex is read",
        "In a regex `*` repeats the character before it: `/q_proj*/` is `q_pro` then any "
        "number of `j`. For 'anything' write `.*`.",
        "module /model\\.layers\\.0\\.self_attn\\.q_proj*/ -> off\n",
        "module /model\\.layers\\.0\\.self_attn\\.q_proj.*/ -> off\n",
        column=8,
    ),
    CodeInfo(
        "QRT005", "regex-in-glob", _W,
        "regex syntax in a glob",
        "Quantizer names are matched with globs (`fnmatch`): `*`, `?` and `[...]` are "
        "special, everything else is literal. `\\.`, `(a|b)`, `+` or `^` match those "
        "characters, not what a regex would.",
        'quantizer "*self_attn.(q|k)_proj*" -> off\n',
        'quantizer "*self_attn.[qk]_proj*" -> off\n',
        column=11,
    ),
    CodeInfo(
        "QRT006", "never-wins", _W,
        "a rule that a later rule always replaces",
        "A later rule of equal or higher priority selects every site this one selects and "
        "replaces its decision (a spec or `off`), so this rule never decides anything: a "
        "leftover, or the two are in the wrong order. In a ModelOpt list a trailing `*` entry "
        "(the legacy `default` last) replaces everything before it; there the finding is "
        "info, since lists are composed by concatenation (ModelOpt's own presets are). A rule "
        "of an included file (`include preset w8a8`, `include \"common.qrt\"`) that a rule "
        "of another file replaces is not reported: including a preset and overriding some of "
        "its rules is what includes are for. A rule replaced by a later rule of its own file "
        "is reported at that file's line.",
        "op linear weight -> int4 per_block(32)\nop linear weight -> int8 per_channel\n",
        "op linear weight -> int4 per_block(32)\nmodule /lm_head/ op linear weight -> int8 per_channel\n",
    ),
    CodeInfo(
        "QRT007", "block-scale-combination", _E,
        "a block size and scale dtype no backend accepts",
        "Power-of-two (`float8_e8m0fnu`) scales exist for the MX formats, whose blocks are 32 "
        "elements; FP4 values need fp8 scales (MX's e8m0, or NVFP4's `float8_e4m3fn`). Other "
        "combinations have no kernel and fail at the end of a long run.",
        "op linear weight -> float4_e2m1fn_x2 per_block(16) scale_dtype=float8_e8m0fnu\n",
        "op linear weight -> float4_e2m1fn_x2 per_block(32) scale_dtype=float8_e8m0fnu\n",
        column=21,
    ),
    CodeInfo(
        "QRT008", "graph-node-op-name", _I,
        "an op name in graph-node style",
        "`linear_23` is how a torch.export graph names its 24th linear node. qrt op names are "
        "`<module>.<op_type>[_n]`, numbered per module, so a bare `linear_23` can only match an "
        "op of the root module. Name the module (`model.layers.3.mlp.linear`) or use "
        "`opname relative` under `in name`. Info only: functional models do run their ops at "
        "the root (the `linear_23` example of docs/semantics.md §1), and with `--model` a name that matches "
        "nothing is reported as QRT020.",
        "opname /linear_23/ -> off\n",
        "opname /model\\.layers\\.3\\.mlp\\.down_proj\\.linear/ -> off\n",
        column=8,
    ),
    CodeInfo(
        "QRT009", "unknown-op-type-key", _W,
        "an op_type_config key that is no registered op type",
        "A hierarchical config accepts any op type key, so a typo (`softmx`) silently "
        "configures nothing. Known op types are the registry's (`qrt inspect` lists the ones "
        "a model runs); register your own with `qrt.register_op_type`.",
        "quantization_config:\n  global_config:\n    op_type_config:\n      softmx: null\n",
        "quantization_config:\n  global_config:\n    op_type_config:\n      softmax: null\n",
        file="config.yaml", line=4, column=7,
    ),
    # ---- model-aware checks -------------------------------------------------------------
    CodeInfo(
        "QRT020", "matches-nothing", _W,
        "a rule or key that selects no site of the model",
        "The pattern, class or op type names nothing in this model: a typo, a renamed "
        "module, or a config written for another architecture. The message names the closest "
        "real names. Info, not a warning, for a rule that only turns sites off (`-> off`, "
        "`enable: false`, a `null` config value), in every front end: configs carry such "
        "guards for architectures a model may lack (ModelOpt's presets turn off routers, "
        "vision towers and BatchNorm for every model), and one that matches nothing leaves "
        "this model as it would be without it. Use `--fail-on info` to catch a mistyped one. "
        "Rules of a shipped preset a file includes are not checked (they are not yours to "
        "edit); linting the preset itself (`modelopt:NAME`) checks them. `qrt run` refuses a "
        "config with a warning-level one of your own file that names modules, ops or quantizers "
        "(exit 2) unless `--allow-low-coverage` (not one that selects only by a class or op type "
        "the model lacks: `op conv2d weight` in a preset for CNNs and LLMs alike).",
        "module /model\\.layers\\.\\d+\\.mlp\\.down_prj/ weight -> int4 per_block(32)\n",
        "module /model\\.layers\\.\\d+\\.mlp\\.down_proj/ weight -> int4 per_block(32)\n",
        column=1, model="tiny_llama", needs_model=True,
    ),
    CodeInfo(
        "QRT021", "shadowed", _W,
        "a rule whose every decision a later rule replaces",
        "On this model, every site the rule selects is also selected by a later rule (of "
        "equal or higher priority) that replaces its decision. The message names that rule.",
        'op linear weight -> int4 per_block(32)\nquantizer "*weight_quantizer" -> int8 per_channel\n',
        'quantizer "*weight_quantizer" -> int8 per_channel\nop linear weight -> int4 per_block(32)\n',
        column=1, model="tiny_llama", needs_model=True,
    ),
    CodeInfo(
        "QRT022", "axis-out-of-range", _E,
        "a per-channel or per-block axis beyond the tensor's rank",
        "The axis names a dimension the tensor does not have (a linear weight has two: 0 and "
        "1, or -1 and -2). The runtime would fail on this site.",
        "op linear weight -> int8 per_channel(axis=2)\n",
        "op linear weight -> int8 per_channel(axis=0)\n",
        column=1, model="tiny_llama", needs_model=True,
    ),
    CodeInfo(
        "QRT023", "block-does-not-divide", _E,
        "a block size that does not divide the blocked dimension",
        "Per-block quantization splits the axis into blocks of `block_size`; a dimension that "
        "is not a multiple leaves a ragged last block that kernels refuse.",
        "op linear weight -> int4 per_block(48, axis=-1)\n",
        "op linear weight -> int4 per_block(32, axis=-1)\n",
        column=1, model="tiny_llama", needs_model=True,
    ),
    CodeInfo(
        "QRT024", "missing-default-axis", _E,
        "per-channel or per-block without an axis, where no default exists",
        "An axis left out is filled from the default-axis table of the op or module that owns "
        "the tensor (output channel for weights). For this tensor there is no entry, so the "
        "spec has no axis. Write it.",
        "op add input[0] -> int8 per_channel\n",
        "op add input[0] -> int8 per_channel(axis=-1)\n",
        column=1, model="tiny_llama", needs_model=True,
    ),
    CodeInfo(
        "QRT025", "module-io-key", _W,
        "a module input or output key the module does not have",
        "The rule names `module_input[k]` (or an output) past what the module's forward "
        "takes or returns; the message lists its forward's arguments.",
        "type torch.nn.modules.linear.Linear module_input[3] -> int8\n",
        "type torch.nn.modules.linear.Linear module_input[0] -> int8\n",
        column=1, model="tiny_llama", needs_model=True,
    ),
    CodeInfo(
        "QRT026", "uninstrumented-site", _I,
        "a ModelOpt list entry whose glob also matches sites ModelOpt has no quantizer for",
        "A list reaches only the quantizers ModelOpt would create (docs/semantics.md §4): "
        "`*weight_quantizer` read over qrt's paths also names norm weights, which ModelOpt does "
        "not quantize, so they stay off. Narrow the glob if they were not meant; use a DSL rule "
        "or a hierarchical config to quantize them.",
        "- quantizer_name: '*weight_quantizer'\n  cfg: {num_bits: 8, axis: 0}\n",
        "- quantizer_name: '*proj.weight_quantizer'\n  cfg: {num_bits: 8, axis: 0}\n",
        file="quant_cfg.yaml", column=20, model="tiny_llama", needs_model=True,
    ),
    CodeInfo(
        "QRT028", "module-never-runs", _W,
        "a module key or pattern whose module never runs its own forward",
        "A configuration governs the ops on its module's call stack (docs/semantics.md §1, §3). A "
        "container whose children its parent calls directly (`self.decoder.deconv1(x)` from "
        "the root, a `ModuleList` of layers) never runs its own forward, so it is on no call "
        "stack and a `module_name_configs` key (or a `module`/`in name` pattern) naming only "
        "such modules governs nothing, although the name exists. The message names the "
        "modules that do run below it: key those (a regex covers a list of layers).",
        "quantization_config:\n  module_name_configs:\n    decoder: null\n",
        "quantization_config:\n  module_name_configs:\n    decoder.deconv1: null\n",
        file="config.yaml", line=3, column=5, model="cnn", needs_model=True,
    ),
    CodeInfo(
        "QRT029", "low-weight-coverage", _W,
        "a config meant to quantize weights that reaches less than half of the weight bytes",
        "A rule of the config switches weights on, yet the weights it finally quantizes are "
        "less than 50% of the model's weight bytes (biases, norms, embedding and head "
        "included: memory is bytes, not sites). Quantization then succeeds and saves little: "
        "a pattern that names one layer instead of all of them, a later entry that turns the "
        "weights off again (0%). Why one half: the layers a weight "
        "config is for hold most of a model's bytes (87% of a Llama-3-8B, 72% of a Qwen2.5-0.5B "
        "with its large tied embedding), so a config that leaves the head or the attention in "
        "float on purpose stays above it. The message names the largest float weights; "
        "`qrt resolve --summary` and `qrt report` show the bytes by format. `qrt run` refuses "
        "such a config (exit 2) unless `--allow-low-coverage`; an enabling rule that selects "
        "nothing is QRT020, which `qrt run` refuses too.",
        "module /model\\.layers\\.0\\.mlp\\.down_proj/ weight -> int4 per_block(32)\n",
        "op linear weight -> int4 per_block(32)\n",
        column=1, model="tiny_llama", needs_model=True,
    ),
    CodeInfo(
        "QRT030", "vllm-reads-differently", _W,
        "a compressed-tensors config vLLM's loader reads differently from compressed-tensors (--target vllm)",
        "vLLM does not use compressed-tensors' matching: it takes the first target in the config's "
        "order (not exact names, then regexes, each alphabetically, then classes), matches class "
        "targets as substrings of its own layer classes (`Linear` is in `QKVParallelLinear`), "
        "reads q/k/v and gate/up as one fused layer, honours only names in `ignore`, never "
        "quantizes `lm_head` or an output, and quantizes the KV cache of every attention. With "
        "`--target vllm` each Linear whose weight, input or output decision differs between the "
        "two readings is reported, both decisions named, at the target that decides it for "
        "compressed-tensors. Example: groups `[Linear]` → W4A16 and `[re:.*k_proj$]` → W8A16 give "
        "k_proj int8 in compressed-tensors and int4 in vLLM (its `qkv_proj` matches `Linear` by "
        "class first). `qrt resolve/explain --as vllm` show vLLM's reading "
        "(docs/compressed-tensors.md).",
        "", "", needs_model=True,
    ),
    CodeInfo(
        "QRT031", "vllm-fused-shards-differ", _E,
        "fused q/k/v or gate/up shards with different schemes (--target vllm)",
        "vLLM runs q_proj/k_proj/v_proj as one `qkv_proj` layer and gate_proj/up_proj as one "
        "`gate_up_proj` (the model's `packed_modules_mapping`), with one scheme. When `ignore` "
        "keeps some shards and not others, vLLM refuses to load (\"Found a different quantization "
        "schemes ... vLLM requires all to use the same scheme\"); when compressed-tensors gives the "
        "shards different schemes, vLLM uses the first shard's for all and the others' saved "
        "tensors do not fit it. Give every shard of a fused layer the same scheme, or ignore all.",
        "", "", needs_model=True,
    ),
    CodeInfo(
        "QRT032", "vllm-cannot-read", _E,
        "a compressed-tensors config vLLM fails on, or a model whose vLLM layout qrt does not know (--target vllm)",
        "vLLM reads `config.json` itself and fails on a group written as a preset list, a group "
        "without `weights`, or a `kv_cache_scheme` other than symmetric 8-bit float per tensor or "
        "per head. The vLLM checks also need vLLM's layout of the model (which Linears it fuses), "
        "known for Llama, Mistral, Qwen2, Qwen3, Mixtral and Qwen2-MoE; another architecture is "
        "reported here rather than checked wrongly.",
        "", "", needs_model=True,
    ),
    # ---- input that cannot be read ------------------------------------------------------
    CodeInfo(
        "QRT201", "invalid-pattern", _E,
        "a regex that does not compile or that RE2 cannot run",
        "Patterns are compiled when read; backreferences and lookaround are refused because "
        "qrt matches in linear time.",
        "module /model\\.layers\\.(\\d+/ -> off\n",
        "module /model\\.layers\\.(\\d+)/ -> off\n",
        column=8, raised_as="PatternError",
    ),
    CodeInfo(
        "QRT202", "invalid-spec", _E,
        "an unknown spec field or value",
        "Spec fields and values come from closed sets; the message lists the valid ones and "
        "the closest.",
        "op linear weight -> int8 scale_dtyp=float16\n",
        "op linear weight -> int8 scale_dtype=float16\n",
        column=26, raised_as="SpecError",
    ),
    CodeInfo(
        "QRT203", "syntax-error", _E,
        "a rule file line that does not parse",
        "The DSL reads one statement per line: `include`, `spec NAME = ...`, or `<selector> "
        "-> <effect> [priority ...]` (docs/dsl.md).",
        "op linear weight => int8\n",
        "op linear weight -> int8\n",
        column=18, raised_as="RuleSyntaxError",
    ),
    CodeInfo(
        "QRT204", "include-error", _E,
        "an include that cannot be read",
        "The included file is missing, the preset is unknown, or includes form a cycle.",
        'include "missing.qrt"\n',
        "include preset w8a8\n",
        column=9, raised_as="IncludeError",
    ),
    CodeInfo(
        "QRT206", "config-error", _E,
        "a hierarchical config that cannot be read",
        "Unknown keys (with did-you-mean), duplicate YAML keys, tensor keys mixing positions "
        "and names, bad regex keys, QAT schedule errors: each problem is reported with its "
        "config path and line.",
        "quantization_config:\n  global_config:\n    op_input_spek: null\n",
        "quantization_config:\n  global_config:\n    op_input_spec: null\n",
        file="config.yaml", line=3, column=5, raised_as="ConfigError",
    ),
    CodeInfo(
        "QRT208", "wildcard-error", _E,
        "a ModelOpt list that cannot be read",
        "An entry with neither `cfg` nor `enable`, an unknown attribute (with did-you-mean), "
        "`num_bits` of an unsupported shape, a `parent_class` that names no class, a bad "
        "`block_sizes` axis, duplicate keys: each names the entry, its line and what is valid.",
        "- quantizer_name: '*weight_quantizer'\n",
        "- quantizer_name: '*weight_quantizer'\n  enable: false\n",
        file="quant_cfg.yaml", column=3, raised_as="WildcardConfigError",
    ),
    CodeInfo(
        "QRT220", "compressed-tensors-error", _E,
        "a compressed-tensors config or llm-compressor recipe that cannot be read exactly",
        "A key compressed-tensors or llm-compressor would ignore silently (a misspelt `ignore` "
        "quantizes what was meant to stay float), args compressed-tensors refuses itself, or a "
        "setting with no qrt equivalent (FP6, sparsity, transforms): each names the key and its "
        "line (docs/compressed-tensors.md).",
        "config_groups:\n  W4A16: [Linear]\nignores: [lm_head]\n",
        "config_groups:\n  W4A16: [Linear]\nignore: [lm_head]\n",
        file="config.yaml", line=3, column=1, raised_as="CompressedTensorsConfigError",
    ),
    CodeInfo(
        "QRT221", "torchao-error", _E,
        "a torchao FqnToConfig or config that cannot be read exactly",
        "A config class or field with no exact qrt equivalent (every field but the granularity, "
        "group size, dtypes and activation mapping must hold torchao's default), a value torchao "
        "refuses itself, or — with a model — a key that makes torchao quantize a bias or a "
        "non-Linear module, or a weight twice: each names the key and its line (docs/torchao.md).",
        '{"_type": "Int8WeightOnlyConfig", "_version": 2,\n "_data": {"granularity": {"_type": "PerAxis", "_data": {"axis": 0}}}}\n',
        '{"_type": "Int8WeightOnlyConfig", "_version": 2,\n "_data": {"granularity": {"_type": "PerRow", "_data": {"dim": -1}}}}\n',
        file="config.json", line=2, column=12, raised_as="TorchAoConfigError",
    ),
    CodeInfo(
        "QRT102", "inventory-error", _E,
        "a saved inventory that cannot be read",
        "`--model inv.json` must be a file written by `qrt inspect --format json` (schemas/"
        "inventory.schema.json).",
        "", "", needs_model=True, raised_as="InventoryFileError",
    ),
    # ---- errors a command or the API raises (not lint findings) ---------------------------
    CodeInfo(
        "QRT100", "model-source-error", _E,
        'a --model SPEC that gives no model and example inputs',
        'The spec names no built-in model, file, module or Hugging Face config; the factory raised or returned something else than a model (or a model and its inputs); a Hugging Face model needs inputs qrt cannot make; calibration data that cannot be read (`CalibrationError`, a subclass). The message names the spec and lists the forms `--model` takes.',
        "", "", raised_as="ModelSourceError", lint=False,
    ),
    CodeInfo(
        "QRT101", "trace-error", _E,
        "the model's forward failed while qrt traced it",
        "qrt runs the model once (on `meta` for a Hugging Face config) to find every op and tensor. The forward raised: the message carries the model's own error. Pass inputs that fit it (`--input-shape`), or a factory that returns them.",
        "", "", raised_as="TraceError", lint=False,
    ),
    CodeInfo(
        "QRT103", "registry-error", _E,
        'a bad op-type registration',
        'An op type registered with a name that is not an identifier, or inputs/outputs that are neither `"*"` nor a tuple of positions and names (`qrt/ops/registry.py`).',
        "", "", raised_as="RegistryError", lint=False,
    ),
    CodeInfo(
        "QRT104", "query-error", _E,
        'a name or glob that matches nothing',
        '`qrt explain QUERY` (or `--module`) names no quantizer, op or module of the model; the message lists the closest names.',
        "", "", raised_as="QueryError", lint=False,
    ),
    CodeInfo(
        "QRT105", "input-file-error", _E,
        'a file that cannot be read as input',
        'A device, FIFO or directory where a file was expected, a file over its size limit (docs/limits.md), binary or not UTF-8 text, or JSON nested too deep. Front ends raise their own code for their own files.',
        "", "", raised_as="InputFileError", lint=False,
    ),
    CodeInfo(
        "QRT106", "output-file-error", _E,
        'a file or folder qrt cannot write',
        'A directory where a file goes, a missing or read-only parent, a full device, an existing export folder without `--overwrite`. Nothing half-written is left: exports are written to a scratch folder and moved into place.',
        "", "", raised_as="OutputFileError", lint=False,
    ),
    CodeInfo(
        "QRT107", "argument-type-error", _E,
        'a Python API argument of the wrong type',
        'A public function was called with an argument it cannot take (`qrt.resolve(5, model)`); the message names the argument and what it accepts. Also a `TypeError`.',
        "", "", raised_as="ArgumentTypeError", lint=False,
    ),
    CodeInfo(
        "QRT205", "resolve-error", _E,
        'rules that cannot apply to this model',
        "A bare class name that names several classes of the model, or a spec its tensor cannot take (an axis beyond its rank, a block that does not divide it: QRT022/QRT023 as lint reports them), at the rule's file and line (docs/semantics.md §2).",
        "", "", raised_as="ResolveError", lint=False,
    ),
    CodeInfo(
        "QRT207", "convert-error", _E,
        'a config that cannot be written in the asked style',
        "`qrt convert --to STYLE` refuses when a decision has no exact equivalent in the target style (a non-Linear op's tensor in compressed-tensors, a module boundary in a ModelOpt list …), naming every such decision and why, or when the written config does not resolve back to the same decisions.",
        "", "", raised_as="ConvertError", lint=False,
    ),
    CodeInfo(
        "QRT209", "no-modelopt-equivalent", _E,
        'a spec a ModelOpt cfg cannot express exactly',
        "Writing a ModelOpt `quant_cfg` (`qrt convert --to modelopt`, `qrt.to_quant_cfg`) needs every spec in ModelOpt's attributes; the error lists each setting that has none (docs/modelopt.md).",
        "", "", raised_as="NoModelOptEquivalent", lint=False,
    ),
    CodeInfo(
        "QRT210", "git-revision-error", _E,
        'a REV:path that git cannot show',
        '`qrt diff REV:rules.qrt ...` reads the file from git: git is missing, the folder is no repository, or the revision or path does not exist there.',
        "", "", raised_as="GitRevisionError", lint=False,
    ),
    CodeInfo(
        "QRT211", "plan-file-error", _E,
        'a plan or lock file that cannot be read',
        'Not JSON, another format version, or not the schema (`schemas/plan.schema.json`); re-create it with `qrt resolve -o` or `qrt lock`.',
        "", "", raised_as="PlanFileError", lint=False,
    ),
    CodeInfo(
        "QRT212", "diff-input-error", _E,
        'two inputs `qrt diff` cannot compare',
        'A config needs `--model` to be resolved before it can be compared; two plans of different models (inventory digests or sites differ) are compared only with `--across-models`.',
        "", "", raised_as="DiffInputError", lint=False,
    ),
    CodeInfo(
        "QRT301", "numerics-error", _E,
        'a spec the eager runtime cannot compute',
        'A spec the fake-quantization arithmetic cannot compute on its tensor: no axis where its granularity needs one, an axis out of the range of the tensor, observed qparams asked of a format that computes its scales per tensor.',
        "", "", raised_as="NumericsError", lint=False,
    ),
    CodeInfo(
        "QRT302", "prepare-error", _E,
        'a model the eager runtime cannot prepare under the plan',
        'A model prepared twice, a spec whose `extra` settings name a format or granularity the eager runtime does not run (it would quantize something else), a spec the fake quantizer cannot build on its tensor, or a quantized tensor the runtime cannot reach; the message names the quantizer path and the hint what to change.',
        "", "", raised_as="PrepareError", lint=False,
    ),
    CodeInfo(
        "QRT303", "quantizer-cfg-error", _E,
        'set_quantizer_by_cfg given a cfg it cannot apply',
        '`qrt.set_quantizer_by_cfg(model, cfg)` on a model qrt has not prepared, or with a cfg it cannot apply to the prepared quantizers (docs/modelopt.md).',
        "", "", raised_as="QuantizerCfgError", lint=False,
    ),
    CodeInfo(
        "QRT304", "calibration-loop-error", _E,
        'a forward_loop or batch iterable qrt cannot use',
        '`qrt.quantize(model, config, forward_loop)` takes a callable of the model or an iterable of batches; it raised, or ran no forward.',
        "", "", raised_as="CalibrationLoopError", lint=False,
    ),
    CodeInfo(
        "QRT305", "calibration-range-error", _E,
        'calibration observed NaN',
        'A batch holding NaN (or a model that makes one) leaves NaN ranges, and every quantized output after it would be NaN; the message names the first quantizer that saw it.',
        "", "", raised_as="CalibrationRangeError", lint=False,
    ),
    CodeInfo(
        "QRT401", "export-error", _E,
        'torch.export could not capture the model',
        "Graph mode captures the model with `torch.export`; the model's Python control flow or an unsupported op stopped it. The message carries torch's reason; eager mode (`execution_mode: eager`) runs without capture (docs/graph.md).",
        "", "", raised_as="ExportError", lint=False,
    ),
    CodeInfo(
        "QRT402", "graph-spec-error", _E,
        "a spec torchao's PT2E flow cannot express",
        'Graph mode builds a torchao quantization spec for each decision; a format or granularity torchao has no observer or fake quantizer for is refused, naming it (docs/graph.md).',
        "", "", raised_as="GraphSpecError", lint=False,
    ),
    CodeInfo(
        "QRT501", "finalize-error", _E,
        'a weight that cannot be packed, saved, loaded or exported as asked',
        "The format has no packed form for it, the folder is not a saved model, a file's hash does not match the manifest, or the export format cannot hold the plan (docs/finalize.md).",
        "", "", raised_as="FinalizeError", lint=False,
    ),
]

CODES: dict[str, CodeInfo] = {c.code: c for c in sorted(_ALL, key=lambda c: c.code)}


def code_info(code: str) -> CodeInfo:
    """The entry of ``code``; a ``KeyError`` lists the known codes."""
    try:
        return CODES[code.upper()]
    except KeyError:
        raise KeyError(f"unknown code {code!r}; known codes: {', '.join(CODES)}") from None
