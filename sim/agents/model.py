"""The model server's inference-latency model and its defaults, each with its source.

The server (``@modelserver``, workloads/src/modelserver.c) runs an iteration-level
scheduler as vLLM does (continuous batching): a request waits in a FIFO queue for
one of ``max_batch`` slots; the engine step that admits it also runs its prefill
(``prefill_ns_per_token`` x its input tokens); every step gives each running
sequence one output token and takes ``decode_ns + batch_ns_per_sequence`` x (running
sequences - 1). The server sleeps each step in simulated time.

Defaults are for Llama-3.1-8B-Instruct (BF16) served by vLLM on one NVIDIA A100 40GB
(M: measured by a published benchmark; E: an estimate, derived as said):

* decode_ns 13.3 ms (M): one sequence decodes at about 75 tokens/s (J. Musgrave,
  "vLLM throughput-latency sweep on NVIDIA A100", johnmusgrave.com, vLLM 0.23,
  1024 input / 128 output tokens);
* batch_ns_per_sequence 0.4 ms (E): the same sweep finds 6.6x the throughput at 8
  concurrent requests "with almost no latency cost": a step of 8 sequences then
  takes 8/6.6 x 13.3 = 16.1 ms, 2.8 ms more than a step of one, 0.4 ms per extra one;
* max_batch 8 (E): that sweep's knee (past it per-token latency climbs); vLLM's own
  default cap (max_num_seqs) is larger, 256;
* prefill_ns_per_token 0.1 ms (E): 2 x 8e9 FLOP per token at about half of the
  A100's 312 TFLOP/s dense BF16 peak is 0.05 ms; doubled for attention and
  scheduling overheads, which puts a 1,500-token prompt at 150 ms, in the 150-250 ms
  time to first token reported for Llama 3 8B on an A100 with vLLM out of the box
  (cloudach.vercel.app, "How we achieve sub-100ms TTFT on Llama 3 with vLLM").
"""

from __future__ import annotations

from dataclasses import dataclass

NS_PER_MS = 1_000_000
DECODE_NS = 13_300_000  #: M: 75 tokens/s at one sequence (Musgrave, A100 40GB)
BATCH_NS_PER_SEQUENCE = 400_000  #: E: 6.6x throughput at 8 sequences (same sweep)
MAX_BATCH = 8  #: E: the sweep's knee
PREFILL_NS_PER_TOKEN = 100_000  #: E: 16 GFLOP/token at ~50% of 312 TFLOP/s, doubled
MODEL_PORT = 7100  #: the model server's TCP port on the virtual network


@dataclass(frozen=True)
class ModelServer:
    """The latency model's parameters (nanoseconds of simulated time)."""

    prefill_ns_per_token: int = PREFILL_NS_PER_TOKEN
    decode_ns: int = DECODE_NS
    batch_ns_per_sequence: int = BATCH_NS_PER_SEQUENCE
    max_batch: int = MAX_BATCH

    def args(self, agents: int, trace_path: str) -> tuple[str, ...]:
        """The ``@modelserver`` arguments for ``agents`` agents."""
        return (str(MODEL_PORT), str(agents), trace_path,
                str(self.prefill_ns_per_token), str(self.decode_ns),
                str(self.batch_ns_per_sequence), str(self.max_batch))

    def alone_ns(self, in_tokens: int, out_tokens: int) -> int:
        """One request's time with the server to itself (no queue, a batch of one)."""
        return self.prefill_ns_per_token * in_tokens + self.decode_ns * max(out_tokens, 1)
