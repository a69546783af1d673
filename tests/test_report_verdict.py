"""The verdict compares like with like, respects noise and says how sure it is (fabricated results)."""

import json

import pytest

from reports.build import render
from reports.load import load
from reports.noise import get_quality_interval
from reports.stats import bootstrap_interval, wilson_interval
from reports.summarize import summarize
from reports.verdict import get_verdicts

MiB = 2**20


def make_entry(method, seed=0, *, dataset="sst2", acc=0.9, step=0.010, iqr=0.001, rss=10 * MiB, world=None,
               ppl=None, n_eval=400, load=(0.5, 0.6), **extra):
    ranks = f"-gpus{world}" if world else ""
    case_id = f"{method}-{dataset}-tiny-cpu{ranks}-seed{seed}"
    info = {"case_id": case_id, "method": method, "dataset": dataset, "tier": "tiny", "hardware": "cpu",
            "seed": seed, "model": "tiny-llama", "status": "passed", "step_seconds_p50": step,
            "step_seconds_iqr": iqr, "case_cpu_rss_bytes": rss, "peak_cpu_rss_bytes": 900 * MiB,
            "protocol": {"n_eval": n_eval}, "load_average_start": load[0], "load_average_end": load[1],
            **({"perplexity": ppl} if ppl is not None else {"accuracy": acc}), **extra}
    if world:
        info["world_size"] = world
    return {"name": f"test_finetune[{case_id}]", "stats": {"median": 0.01}, "extra_info": info}


def write(tmp_path, entries, *, cpu_count=2, name="run.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"machine_info": {"node": "box", "cpu_count": cpu_count}, "commit_info": {},
                                "datetime": "2026-12-03T09:00:00", "version": "5.3.1", "benchmarks": entries}))
    return path


def with_variant(variant, entry):
    info = entry["extra_info"]
    info.update(variant=variant, case_id=info["case_id"].replace("-cpu", f"-{variant}-cpu"))
    entry["name"] = f"test_finetune[{info['case_id']}]"
    return entry


def get_lines(verdict):
    return {line.label: line.text for line in verdict.lines}


def test_runs_on_two_gpu_models_stay_apart_and_name_their_gpus(tmp_path):
    """Step times from an H200 and an H100 are not compared: one block per GPU, each named."""
    def gpu(entry):
        info = entry["extra_info"]
        info.update(hardware="gpu", case_id=info["case_id"].replace("-cpu", "-gpu"))
        entry["name"] = f"test_finetune[{info['case_id']}]"
        return entry

    def on(name, gpu_name, entries):
        path = write(tmp_path, entries, name=name)
        data = json.loads(path.read_text())
        data["machine_info"]["gpu"] = gpu_name
        path.write_text(json.dumps(data))
        return path

    rows = load([on("a.json", "NVIDIA H200", [gpu(make_entry("lora", step=0.010)), gpu(make_entry("dora", step=0.012))]),
                 on("b.json", "NVIDIA H100 80GB HBM3", [gpu(make_entry("miss", step=0.004))])])
    scopes = {v.scope for v in get_verdicts(rows)}
    assert scopes == {"tiny-llama · gpu (NVIDIA H200) · tiny", "tiny-llama · gpu (NVIDIA H100 80GB HBM3) · tiny"}
    h100 = next(v for v in get_verdicts(rows) if "H100" in v.scope)
    assert get_lines(h100)["miss"].startswith("miss: no LoRA run to compare with")  # not the H200's LoRA
    one = load([on("c.json", "NVIDIA H200", [gpu(make_entry("lora")), gpu(make_entry("dora"))])])
    assert {v.scope for v in get_verdicts(one)} == {"tiny-llama · gpu · tiny"}  # one GPU: not named


def test_single_rank_and_two_rank_cases_of_one_method_stay_apart(tmp_path):
    # the two-rank LoRA is four times slower: averaged into one reference it would make qlora look fast
    rows = load([write(tmp_path, [
        make_entry("lora", step=0.010), make_entry("lora", world=2, step=0.040),
        make_entry("qlora", step=0.015),
    ])])
    verdicts = {v.scope: v for v in get_verdicts(rows)}
    assert set(verdicts) == {"tiny-llama · cpu · tiny", "tiny-llama · cpu · tiny · 2 ranks"}
    single = get_lines(verdicts["tiny-llama · cpu · tiny"])
    assert "step time p50 1.50× LoRA" in single["qlora"]  # against single-process LoRA only
    assert single["lora"].startswith("lora: the reference") and "10.00 ± 0.50 ms" in single["lora"]  # half the IQR
    two = get_lines(verdicts["tiny-llama · cpu · tiny · 2 ranks"])
    assert list(two) == ["lora"] and "40.00" in two["lora"]
    # the table: two rows, each labelled so they can be told apart
    section = summarize(rows, with_plots=False).datasets[0]
    assert sorted(r.label for r in section.rows) == ["lora", "lora · 2 ranks", "qlora"]


def test_timings_inside_each_others_noise_give_no_ratio_and_no_star(tmp_path):
    # 10 ms and 11 ms, each with steps spread by ±2 ms (IQR 4 ms): not told apart
    rows = load([write(tmp_path, [
        make_entry("lora", step=0.010, iqr=0.004, rss=10 * MiB),
        make_entry("hira", step=0.011, iqr=0.004, rss=10.5 * MiB),
    ])])
    (verdict,) = get_verdicts(rows)
    hira = get_lines(verdict)["hira"]
    assert "×" not in hira  # no ratio stated as a difference
    # 0.5 MiB apart in a case's RSS increase is below the allocator's resolution; both said once
    assert "step time p50 and CPU memory (per-case RSS increase) ≈ LoRA (within noise)" in hira
    section = summarize(rows, with_plots=False).datasets[0]
    for key in ("step", "rss", "train"):
        assert not any(r.cells[key].best for r in section.rows), key
    assert "best" not in render(summarize(rows, with_plots=False)).split('id="ds-1"')[1].split("</table>")[0]


def test_timings_beyond_the_noise_give_a_ratio_and_a_star(tmp_path):
    rows = load([write(tmp_path, [
        make_entry("lora", step=0.010, iqr=0.0004), make_entry("hira", step=0.020, iqr=0.0004),
    ])])
    assert "step time p50 2.00× LoRA" in get_lines(get_verdicts(rows)[0])["hira"]
    section = summarize(rows, with_plots=False).datasets[0]
    assert next(r for r in section.rows if r.method == "lora").cells["step"].best


@pytest.mark.parametrize("values", [[1.0, 1.0, 0.835], [1.0, 1.0, 1.0], [0.0, 0.0, 0.02], [0.5], [1.0],
                                    [0.99, 0.2, 1.0, 0.97, 1.0, 0.98, 1.0, 0.5]])
@pytest.mark.parametrize("n_eval", [400, 3, None])
def test_accuracy_intervals_never_leave_0_to_100(tmp_path, values, n_eval):
    entries = [make_entry("sparselora", seed, acc=v, n_eval=n_eval) for seed, v in enumerate(values)]
    rows = load([write(tmp_path, entries)])
    interval = get_quality_interval(rows, "accuracy")
    if interval is not None:  # one seed and no example count: no interval exists
        assert 0.0 <= interval.low <= interval.mean <= interval.high <= 1.0
    cell = summarize(rows, with_plots=False).datasets[0].rows[0].cells["quality"]
    numbers = [float(x) for x in cell.text.replace("(", " ").replace(")", " ").replace("–", " ").split()]
    assert all(0.0 <= x <= 100.0 for x in numbers), cell.text


def test_interval_functions_stay_in_range():
    for successes, n in ((0, 1), (1, 1), (0, 400), (400, 400), (3, 7)):
        w = wilson_interval(successes, n)
        assert 0.0 <= w.low <= w.mean <= w.high <= 1.0
    b = bootstrap_interval([1.0, 1.0, 0.835])
    assert b.low == pytest.approx(0.835) and b.high == 1.0  # 3 seeds: the range of the seeds


def test_basis_line_and_words_for_direction(tmp_path):
    rows = load([write(tmp_path, [
        make_entry("lora", dataset="wikitext2", ppl=11.00, load=(5.3, 4.0)),
        make_entry("hira", dataset="wikitext2", ppl=13.75, step=0.005, load=(3.0, 4.1)),  # faster: on the front
        make_entry("full_ft", dataset="wikitext2", ppl=9.00, step=0.012),
    ])])
    (verdict,) = get_verdicts(rows)
    assert verdict.basis == ("1 seed (seed 0) · tiny tier (smoke: timings not comparable) · "
                             "CPU shared with other processes (load 5.3 on 2 cores)")
    lines = get_lines(verdict)
    assert "perplexity 2.75 ppl worse than LoRA" in lines["hira"]
    assert "perplexity 2.00 ppl better than LoRA" in lines["full_ft"]
    page = render(summarize(rows, with_plots=False))
    assert "1 seed (seed 0)" in page and "Seeds: 0." not in page


def test_cost_only_line_names_what_the_project_knows(tmp_path):
    cost = {"weights": "random-init (cost only)", "loss_decrease": 0.1}
    rows = load([write(tmp_path, [make_entry("lora", dataset="wikitext2", ppl=9e4, **cost),
                                  make_entry("sparselora", dataset="wikitext2", ppl=9e4, step=0.005, **cost)])])
    sparse = get_lines(get_verdicts(rows)[0])["sparselora"]
    assert "cost only; known:" in sparse and "collapses" in sparse and "docs/sparselora.md" in sparse


def test_fused_kernels_are_a_variant_compared_with_lora_and_cost_only_others_read_so(tmp_path):
    # the 8B scale run of results/h200-trust/session-2026-12-04c: lora+liger sat in a block of its
    # own ("fused_kernels=liger: ...") instead of beside LoRA; hira read "below the best quality"
    cost = {"weights": "random-init (cost only)", "loss_decrease": 0.1}
    lora, hira = make_entry("lora", **cost), make_entry("hira", step=0.015, rss=20 * MiB, **cost)
    liger = with_variant("liger", make_entry("lora", step=0.0102, iqr=0.00001, rss=5 * MiB, **cost))
    liger["extra_info"]["protocol"]["fused_kernels"] = "liger: RMSNorm, SwiGLU"
    lora["extra_info"]["step_seconds_iqr"] = 0.00001
    (verdict,) = get_verdicts(load([write(tmp_path, [lora, hira, liger])]))
    assert "step time p50 1.02× LoRA" in get_lines(verdict)["lora+liger"]
    assert verdict.cost_only and verdict.others == ["hira"]
    page = render(summarize(load([tmp_path / "run.json"])))
    assert "off the front (another entry is no slower and no larger, and better on one): hira" in page
    assert "below the best quality" not in page


def test_twenty_methods_show_the_front_and_the_near_best_grouped_by_family(tmp_path):
    names = ["full_ft", "lora", "qlora", "hira", "lora_prune", "sparselora", "dora", "rslora", "pissa", "olora",
             "adalora", "vera", "ia3", "loha", "lokr", "oft", "miss", "lily", "shira", "boft"]
    entries = []
    for i, name in enumerate(names):
        for seed in range(3):  # accuracy falls with i; step time falls with i for the first five
            acc = 0.95 - 0.02 * i + 0.002 * seed
            entries.append(make_entry(name, seed, acc=acc, step=0.010 + 0.001 * abs(i - 4), iqr=0.0001,
                                      rss=(10 + i) * MiB, n_eval=5000))
    rows = load([write(tmp_path, entries)])
    (verdict,) = get_verdicts(rows)
    shown = [line.label for line in verdict.lines]
    assert len(shown) < len(names) and set(shown) | set(verdict.others) == set(names)
    assert "full_ft" in shown and "lora" in shown  # the best quality; the reference
    assert "boft" in verdict.others  # worst quality, slower and larger than others
    families = [family for family, _ in verdict.grouped]
    assert families[0] == "LoRA and its variants"  # the reference's family leads
    assert sum(len(lines) for _, lines in verdict.grouped) == len(verdict.lines)


def test_every_known_method_has_its_own_colour():
    from reports.knowledge import get_families
    from reports.labels import get_color

    colours = [get_color(m) for m in get_families()]
    assert len(set(colours)) == len(colours)
    assert get_color("lora+gc") == get_color("lora")  # a variant keeps its method's colour


def test_a_variant_is_compared_with_lora_of_its_variant(tmp_path):
    rows = load([write(tmp_path, [
        make_entry("lora", step=0.010, iqr=0.0001), with_variant("gc", make_entry("lora", step=0.013, iqr=0.0001)),
        with_variant("gc", make_entry("qlora", step=0.026, iqr=0.0001)),
    ])])
    lines = get_lines(get_verdicts(rows)[0])
    assert "step time p50 2.00× lora+gc" in lines["qlora+gc"]  # like with like: both checkpoint
    assert "step time p50 1.30× LoRA" in lines["lora+gc"]  # a LoRA variant: its cost against plain LoRA


def test_lora_with_a_setting_of_its_own_is_not_the_reference(tmp_path):
    # a second LoRA run with eval_every set (time to quality) is LoRA's variant, whatever the key order
    plain, curve = make_entry("lora", step=0.010, iqr=0.0001), make_entry("lora", step=0.020, iqr=0.0001)
    curve["extra_info"]["settings"] = {"eval_every": 8}
    rows = load([write(tmp_path, [curve, plain, make_entry("dora", step=0.030, iqr=0.0001)])])
    lines = get_lines(get_verdicts(rows)[0])
    assert lines["lora [eval_every unset]"].startswith("lora [eval_every unset]: the reference")
    assert "step time p50 3.00× lora [eval_every unset]" in lines["dora"]
    assert "step time p50 2.00× lora [eval_every unset]" in lines["lora [eval_every=8]"]
    table = {(r.label, r.protocol): r.cells["vs_ref"].text for r in summarize(rows, with_plots=False).datasets[0].rows}
    assert table[("lora", "")] == "reference" and table[("lora", "eval_every=8")] != "reference", table


def test_when_every_case_is_tuned_lora_tuned_is_the_reference(tmp_path):
    rows = load([write(tmp_path, [with_variant("tuned", make_entry(m, seed=s, step=step, iqr=0.0001))
                                  for m, step in (("lora", 0.010), ("dora", 0.020)) for s in (0, 1)])])
    verdict = get_verdicts(rows)[0]
    lines = get_lines(verdict)
    assert lines["lora+tuned"].startswith("lora+tuned: the reference")
    assert "step time p50 2.00× lora+tuned" in lines["dora+tuned"]
    cells = {r.label: r.cells["vs_ref"].text for r in summarize(rows, with_plots=False).datasets[0].rows}
    assert cells["lora+tuned"] == "reference" and cells["dora+tuned"] != "no LoRA run"


def test_a_ratio_apart_from_lora_never_reads_as_one():
    from reports.noise import Measure
    from reports.verdict import get_ratio_text

    assert get_ratio_text("GPU peak memory", Measure(100.4, 0.0), Measure(100.0, 0.0)) == "GPU peak memory 1.004× LoRA"
    assert get_ratio_text("GPU peak memory", Measure(130.0, 0.0), Measure(100.0, 0.0)) == "GPU peak memory 1.30× LoRA"
    assert get_ratio_text("GPU peak memory", Measure(100.0, 0.0), Measure(100.0, 0.0)).endswith("≈ LoRA (within noise)")


def test_single_seed_gpu_peaks_a_mebibyte_apart_are_not_told_apart(tmp_path):
    """One seed has no spread of its own: the GPU peak's seed-to-seed movement (reports.noise) is
    its floor, so 1 MiB in 3.9 GiB is not a memory difference, nor a Pareto step; 228 MiB is."""
    def gpu(entry, mib):
        entry["extra_info"].update(hardware="gpu", peak_gpu_allocated_bytes=mib * MiB,
                                   case_id=entry["extra_info"]["case_id"].replace("-cpu", "-gpu"))
        entry["name"] = f"test_finetune[{entry['extra_info']['case_id']}]"
        return entry

    rows = load([write(tmp_path, [gpu(make_entry("lora"), 4117), gpu(make_entry("olora"), 3889),
                                  gpu(make_entry("pissa"), 3890)])])
    (verdict,) = get_verdicts(rows)
    lines = get_lines(verdict)
    assert "GPU peak memory 0.94× LoRA" in lines["olora"] and "GPU peak memory 0.94× LoRA" in lines["pissa"]
    assert {line.label for line in verdict.lines if line.front} == {"olora", "pissa"}
