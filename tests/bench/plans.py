"""Validation time of long plans whose every step uses the previous step's output: a 2000-step
chain against a 200-step one in the same run. Linear growth gives a ratio of about 10 (it was
about 1000: the checks walked the whole chain for every reference, looking each step up by a
linear search)."""

from __future__ import annotations

import statistics
import time

from drconsole.plans.validate import validate_text


def chain_plan(count: int) -> str:
    """A plan of ``count`` checks, each needing the one before and referring to its output."""
    lines = [
        "id: chain",
        "title: A chain of references",
        "kind: drill",
        "inputs:",
        "  file: {type: string, default: /etc/hostname}",
        "steps:",
        "  - id: s0",
        "    check: local.file_sha256",
        '    with: {path: "${inputs.file}"}',
    ]
    for i in range(1, count):
        lines += [
            f"  - id: s{i}",
            "    check: local.file_sha256",
            f'    with: {{path: "${{inputs.file}}", expect: "${{steps.s{i - 1}.outputs.sha256}}"}}',
            f"    needs: [s{i - 1}]",
        ]
    return "\n".join(lines) + "\n"


def bench_validate_chain(small: int = 200, large: int = 2000, rounds: int = 5) -> dict[str, float]:
    texts = {small: chain_plan(small), large: chain_plan(large)}
    assert validate_text(texts[small]).ok  # warm imports, and the plans are valid
    times: dict[int, list[float]] = {small: [], large: []}
    for _ in range(rounds):  # alternate, so that drift on a busy machine hits both alike
        for count, text in texts.items():
            start = time.perf_counter()
            result = validate_text(text)
            times[count].append(time.perf_counter() - start)
            assert result.ok, result.problems[:3]
    small_s, large_s = statistics.median(times[small]), statistics.median(times[large])
    return {
        "small": small,
        "large": large,
        "small_s": small_s,
        "large_s": large_s,
        "ratio": large_s / small_s,
    }


if __name__ == "__main__":
    print(bench_validate_chain())
