"""DFT calibration: B3LYP-D4 (PySCF) single points on the shipped GFN2-xTB geometries, against GFN2-xTB.

Refines HOPO-methyl and CAM-methyl in 1L6W for La, Gd, Lu and Y at the default DFT level (4f in core,
def2-SVP, SMD water), and Gd again with the 4f shell in valence (open shell, high spin), through the same
pipeline as ``reescreen refine`` (a local Dask worker using every core).  The geometries and the xTB energies
come from the library build store (``data/build-store/``), copied into the calibration's own store
(``data/dft/calibration/store.db``, committed), which also keeps every DFT result and the SCF checkpoints of
running points: the script resumes where it stopped, on a fresh clone too.

Prints, per ligand and metal, E_bind and E_exchange at both levels, the Gd 4f-in-core against open-shell
difference, the La → Lu trend of E_exchange at both levels, where the paper's DFT E_bind scale
(−230 … −300 kcal/mol) lands, and the cost of every single point (CPU-s, wall, basis functions).  Writes
``benchmarks/dft_calibration.json`` (the numbers) and the two-level frames for Δ-ML to
``data/dft/two-level-calibration.extxyz`` (``reescreen train configs/allegro-delta-binding.yaml --data …``).

Open-shell points report the state they converged to (⟨S²⟩, spin and f populations on the metal; see
``core.levels.dft.open_shell_state``).  Points stored before that was recorded are recomputed once with
``--state-check`` (the same calculation; the energy must agree with the stored one), and their states kept in
``benchmarks/dft_open_shell_state.json``.  Open-shell complexes stored before states were checked at all are
marked failed, with the reason, and recomputed under the level's Ln(III) state check, which refuses a ligand
→ metal charge-transfer solution instead of storing it.

    python benchmarks/dft_calibration.py [--work data/dft/calibration] [--ligands HOPO-methyl,CAM-methyl]
                                         [--metals La,Gd,Lu,Y] [--report-only] [--state-check ions|all]
    python benchmarks/dft_calibration.py --type 4L --ligands HOPO-methyl --metals La,Lu
        # another type: its own store (data/dft/calibration-4L), numbers (dft_calibration-4L.json) and frames
"""
from __future__ import annotations

import argparse
import gzip
import json
import platform
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE_JSON = ROOT / "benchmarks" / "dft_open_shell_state.json"
STATE_KEYS = ("s_squared", "metal_spin", "metal_f_alpha", "metal_f_beta")
PAPER_E_BIND = (-300.0, -230.0)


def outputs(ctype: str) -> tuple[Path, Path, Path]:
    """(numbers, two-level frames, default work folder) of the calibration in ``ctype``: 1L6W keeps the
    original names; another type gets its own, so one calibration never overwrites another's."""
    suffix = "" if ctype == "1L6W" else f"-{ctype}"
    return (ROOT / "benchmarks" / f"dft_calibration{suffix}.json",
            ROOT / "data" / "dft" / f"two-level-calibration{suffix}.extxyz", ROOT / "data" / "dft" / f"calibration{suffix}")


def work_store(work: Path, ligands, ctype: str) -> Path:
    """The calibration's store: ``work/store.db``, created on first use with only what the calibration reads
    (the GFN2-xTB rows of ``ligands`` in ``ctype``, their references and the aqua ions, copied from the library
    build store) and the DFT points already recorded in ``benchmarks/dft_calibration.json``, so a fresh clone
    resumes where the committed calibration stopped instead of recomputing hours of single points."""
    path = work / "store.db"
    if path.exists():
        return path
    import ase.db

    work.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    part.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "build-store.db"
        with gzip.open(ROOT / "data" / "build-store" / "dataset-store.db.gz", "rb") as src, open(full, "wb") as dst:
            shutil.copyfileobj(src, dst)
        source = ase.db.connect(str(full))
        smiles = {lig.smiles for lig in ligands}
        with ase.db.connect(str(part), type="db") as dst:
            for row in source.select():
                wanted = row.get("kind") in ("ligand", "water", "ion") and row.get("ligand", "") in smiles | {""} \
                    or row.get("kind") == "complex" and (row.get("ligand") in smiles and row.get("ctype") == ctype
                                                         or row.get("ctype") == "8W")
                if wanted:
                    dst.write(row.toatoms(), key_value_pairs=row.key_value_pairs, data=row.data)
        ase.db.connect(str(part), type="db").metadata = source.metadata
    recorded = outputs(ctype)[0]
    n = seed_recorded_points(part, recorded)
    if ctype != "1L6W":  # free ligands, water, bare and aqua ions are the same calculations in every type
        n += seed_recorded_points(part, outputs("1L6W")[0], references_only=True)
    part.rename(path)
    print(f"calibration store {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} created; "
          f"{n} recorded DFT point(s) taken from {recorded.relative_to(ROOT)}"
          + ("" if ctype == "1L6W" else f" and the references of {outputs('1L6W')[0].relative_to(ROOT)}"), flush=True)
    return path


def seed_recorded_points(path: Path, out_json: Path, references_only: bool = False) -> int:
    """Store the DFT single points recorded in ``out_json`` (energies, costs, open-shell states) on their
    GFN2-xTB geometries, marked with where they were recorded; with ``references_only`` only free ligands,
    water, bare and aqua ions, and none the store already holds.  Open-shell complexes recorded without their
    electronic state are left out: the calibration recomputes them under the Ln(III) state check."""
    from core.levels import dft_level
    from core.pipeline.fill_energies import fill_binding_energies
    from ase import Atoms

    from core.pipeline.settings import FAST
    from core.storage.records import Record
    from core.storage.store import Store

    if not out_json.exists():
        return 0
    recorded = json.loads(out_json.read_text())
    store = Store(path)
    levels = {lvl.name: lvl for lvl in (dft_level(), dft_level(open_shell=True))}
    costs = {(c["level"], c["ligand"], c["what"]): c for c in recorded.get("costs", [])}
    names = {"complex": lambda p: f"{p['metal']} {p['ctype']}", "ligand": lambda p: "free ligand",
             "water": lambda p: "water", "ion": lambda p: f"{p['metal']}3+"}
    n = 0
    for point in recorded.get("single_points", []):
        level = levels.get(point["level"])
        if level is None or point["status"] != "ok" or point.get("energy_kcal") is None:
            continue
        if references_only and point["kind"] == "complex" and point["ctype"] != "8W":
            continue
        if level.options.open_shell and point["metal"] and "s_squared" not in point:
            continue
        identity = {"ligand": point["ligand"], "metal": point["metal"], "ctype": point["ctype"]}
        held = store.get(point["kind"], FAST.with_changes(level=level.name), **identity)
        if held is not None and held.status == "ok":
            continue
        source = store.get(point["kind"], FAST, **identity)
        if point["kind"] != "ion" and (source is None or source.status != "ok"):
            continue
        cost = costs.get((point["level"], point["ligand"], names[point["kind"]](point)), {})
        extra = {"geometry_row": int(source.id) if source is not None else None, "cpu_s": cost.get("cpu_s"),
                 "n_basis": cost.get("n_basis"), "scf_cycles": cost.get("scf_cycles"),
                 "scf_attempt": cost.get("scf_attempt", ""), "peak_rss_mb": cost.get("worker_peak_rss_mb"),
                 "recorded_in": f"{out_json.relative_to(ROOT)} ({recorded.get('date', '')})",
                 **{k: point[k] for k in STATE_KEYS if k in point}}
        atoms = source.toatoms() if point["kind"] != "ion" else Atoms(point["metal"])
        store.save(Record(point["kind"], energy=point["energy_kcal"], atoms=atoms, charge=point["charge"],
                          wall_s=float(cost.get("wall_s") or 0.0), level=level.name, extra=extra, **identity),
                   FAST.with_changes(level=level.name), {"geometry_level": FAST.level})
        n += 1
    for level in levels.values():
        for ligand in {p["ligand"] for p in recorded.get("single_points", []) if p["ligand"]} | {""}:
            fill_binding_energies(store, FAST.with_changes(level=level.name), ligand)
    return n


def refine_all(store, ligands, metals, ctype: str) -> None:
    from core.levels import dft_level
    from core.pipeline.cluster import close_client, make_client
    from core.pipeline.refine import plan_refinement, run_refinement
    from core.pipeline.settings import FAST

    # ligand by ligand, each with its open-shell Gd: a stopped run leaves whole ligands behind
    runs = [(ligand, dft_level(), metals) for ligand in ligands]
    if "Gd" in metals:
        runs = [r for ligand in ligands for r in ((ligand, dft_level(), metals),
                                                  (ligand, dft_level(open_shell=True), ["Gd"]))]
    retired = retire_unchecked_open_shell(store)
    if retired:
        print(f"{retired} open-shell point(s) stored before their electronic state was checked: recomputing",
              flush=True)
    client = make_client(None, 1, "off", threads_per_process=max(len(__import__("os").sched_getaffinity(0)), 1))
    try:
        for ligand, level, run_metals in runs:
            plan = plan_refinement(store, FAST, level, [ligand.smiles], run_metals, [ctype],
                                   retry_failed=level.options.open_shell)
            print(f"{ligand.name}, {level.name}: {plan.describe()}", flush=True)
            if plan.todo:
                summary = run_refinement(plan, store, client, lambda p: print(
                    f"  [{p.done}/{p.total}] {p.last}", flush=True) if p.done else None)
                print(f"  {summary.computed} single points, {summary.wall_s:.0f} s wall, {summary.failed} failed",
                      flush=True)
    finally:
        close_client(client)


def report(store, ligands, metals, ctype: str) -> dict:
    from core.levels import dft_level
    from core.pipeline.settings import FAST
    from core.storage.records import Kind
    from core.storage.results import levels_side_by_side

    incore, open_shell = dft_level(), dft_level(open_shell=True)
    names = {lig.smiles: lig.name for lig in ligands}
    rows, costs, points = [], [], []
    for level in (incore, open_shell):
        for ligand in ligands:
            df = levels_side_by_side(store, FAST, level, [ligand.smiles], metals if level is incore else ["Gd"],
                                     [ctype])
            for rec in df.to_dict("records"):
                if level is open_shell and rec["DFT status"] == "not refined":
                    continue
                vals = [v for k, v in rec.items() if k.startswith("E_")]
                rows.append({"ligand": ligand.name, "metal": rec["metal"], "type": rec["type"],
                             "dft_level": level.name, "E_bind_xtb": vals[0], "E_bind_dft": vals[1],
                             "E_exchange_xtb": vals[2], "E_exchange_dft": vals[3], "dft_status": rec["DFT status"]})
        high = FAST.with_changes(level=level.name)
        for row in store.rows(settings_hash=high.fingerprint(), level_of_theory=level.name):
            extra = row.data.get("extra", {}) if row.data else {}
            what = {Kind.COMPLEX: f"{row.get('metal')} {row.get('ctype')}", Kind.LIGAND: "free ligand",
                    Kind.WATER: "water", Kind.ION: f"{row.get('metal')}3+"}.get(row.kind, row.kind)
            points.append({"kind": str(row.kind), "ligand": row.get("ligand", ""), "metal": row.get("metal", ""),
                           "ctype": row.get("ctype", ""), "level": level.name, "status": row.status,
                           "energy_kcal": row.get("energy_kcal"), "charge": row.get("total_charge", 0),
                           **({"what": what, **state_of(row, extra)} if level is open_shell else {})})
            costs.append({"level": level.name, "what": what, "ligand": row.get("ligand", ""), "atoms": row.natoms,
                          "ligand_name": names.get(row.get("ligand", ""), row.get("ligand", "")),
                          "n_basis": extra.get("n_basis"), "cpu_s": extra.get("cpu_s"),
                          "wall_s": row.get("wall_s"), "scf_cycles": extra.get("scf_cycles"),
                          "scf_attempt": extra.get("scf_attempt", ""),
                          "status": row.status, "worker_peak_rss_mb": extra.get("peak_rss_mb")})
    return {"rows": rows, "costs": costs, "single_points": points}


def retire_unchecked_open_shell(store) -> int:
    """Mark failed (with the reason) every open-shell point stored before the level checked which electronic
    state an SCF reached, unless ``--state-check`` found it in the Ln(III) state, so the next run recomputes it
    under that check (``core.levels.dft.ln3_state_problem``).  Returns how many."""
    from core.levels import dft_level
    from core.levels.dft import ln3_state_problem
    from core.pipeline.settings import FAST
    from core.storage.records import FAILED

    level = dft_level(open_shell=True)
    high = FAST.with_changes(level=level.name)
    retired = 0
    for row in store.rows(settings_hash=high.fingerprint(), level_of_theory=level.name):
        if not row.get("metal"):
            continue
        extra = row.data.get("extra", {}) if row.data else {}
        state = state_of(row, extra)
        if row.status != "ok":
            continue
        why = ln3_state_problem(state, row.toatoms()) if "metal_spin" in state else \
            (f"not reproduced by --state-check: {state['failed']}" if "failed" in state else "state unknown")
        if not why:
            continue
        store.update(row.id, delete_keys=("energy_kcal",), status=str(FAILED),
                     reason=f"computed before electronic states were checked (energy was "
                            f"{row.get('energy_kcal'):.1f} kcal/mol; {why}): recomputed")
        retired += 1
    return retired


def _state_key(row) -> str:
    return f"{row.kind}|{row.get('ligand', '')}|{row.get('metal', '')}|{row.get('ctype', '')}"


def state_of(row, extra: dict) -> dict:
    """The open-shell state of a stored point: from its record, or from ``--state-check``'s recomputation."""
    if all(k in extra for k in STATE_KEYS):
        return {k: extra[k] for k in STATE_KEYS} | {"state_from": "stored"}
    checked = json.loads(STATE_JSON.read_text()) if STATE_JSON.exists() else {}
    return checked.get(_state_key(row), {})


def check_states(store, which: str) -> None:
    """Recompute open-shell points (``which``: ``ions``, the bare and aqua ions; ``all``, complexes too) stored
    without their state (same level, same geometry, the SCF attempt that converged them) and keep the state
    in ``STATE_JSON``, with the recomputed energy's difference from the stored one and, where the level's
    Ln(III) state check now refuses that state, the reason."""
    from ase.calculators.calculator import CalculationFailed

    from core.chemistry.constants import ev_to_kcal
    from core.levels import dft_level
    from core.pipeline.settings import FAST

    level = dft_level(open_shell=True)
    checked = json.loads(STATE_JSON.read_text()) if STATE_JSON.exists() else {}
    high = FAST.with_changes(level=level.name)
    # the smallest first: the ion and the aqua ion take minutes, a complex an hour
    for row in sorted(store.rows(settings_hash=high.fingerprint(), level_of_theory=level.name), key=lambda r: r.natoms):
        extra = row.data.get("extra", {}) if row.data else {}
        if row.status != "ok" or not row.get("metal") or _state_key(row) in checked \
                or (which == "ions" and row.get("ctype") not in ("", "8W")) \
                or all(k in extra for k in STATE_KEYS) or "same_calculation_as" in extra:
            continue
        atoms, charge = row.toatoms(), row.get("total_charge", 0)
        attempt = next((a for a in level.attempts_for(atoms, charge, FAST) if a.label == extra.get("scf_attempt")),
                       level.attempts(FAST)[0])
        calc = level.calculator(charge, level.multiplicity(atoms, charge), FAST, attempt)
        cpu0, refused = time.process_time(), ""
        try:
            calc.calculate(atoms)
        except CalculationFailed as exc:
            if not all(k in calc.results for k in STATE_KEYS):
                # not reproducible with today's SCF stages: nothing to compare, and the point is recomputed
                print(f"  {_state_key(row)} ({attempt.label}) did not converge again: {exc}; "
                      f"{time.process_time() - cpu0:.0f} CPU-s", flush=True)
                checked[_state_key(row)] = {"state_from": "--state-check", "scf_attempt": attempt.label,
                                            "failed": str(exc)}
                STATE_JSON.write_text(json.dumps(checked, indent=1))
                continue
            refused = str(exc)
        drift = ev_to_kcal(calc.results["energy"]) - row.get("energy_kcal")
        state = {k: calc.results[k] for k in STATE_KEYS}
        print(f"  state of {_state_key(row)} ({attempt.label}): {json.dumps({k: round(v, 3) for k, v in state.items()})}"
              f", energy {drift:+.4f} kcal/mol from the stored one, {time.process_time() - cpu0:.0f} CPU-s"
              + (f"; refused now: {refused}" if refused else ""), flush=True)
        checked[_state_key(row)] = state | {"state_from": "--state-check", "scf_attempt": attempt.label,
                                            "energy_minus_stored_kcal": round(drift, 5),
                                            **({"refused": refused} if refused else {})}
        STATE_JSON.write_text(json.dumps(checked, indent=1))


def _f(v) -> str:
    return "    -  " if v is None or v != v else f"{v:7.1f}"


def print_report(result: dict, ctype: str) -> None:
    print(f"\nDFT (B3LYP-D4/def2-SVP, SMD water, single points on GFN2-xTB/ALPB geometries) against GFN2-xTB/ALPB, "
          f"{ctype}, kcal/mol")
    print(f"{'ligand':<12} {'metal':<6} {'4f':<9} {'E_bind xTB':>10} {'E_bind DFT':>10} {'E_exch xTB':>10} "
          f"{'E_exch DFT':>10}")
    for r in result["rows"]:
        shell = "valence" if "open shell" in r["dft_level"] else "core"
        print(f"{r['ligand']:<12} {r['metal']:<6} {shell:<9} {_f(r['E_bind_xtb']):>10} {_f(r['E_bind_dft']):>10} "
              f"{_f(r['E_exchange_xtb']):>10} {_f(r['E_exchange_dft']):>10}")
    by = {(r["ligand"], r["metal"], "valence" if "open shell" in r["dft_level"] else "core"): r for r in result["rows"]}
    for lig in sorted({r["ligand"] for r in result["rows"]}):
        core, val = by.get((lig, "Gd", "core")), by.get((lig, "Gd", "valence"))
        if core and val and val["E_exchange_dft"] == val["E_exchange_dft"] and core["E_exchange_dft"] is not None:
            print(f"{lig}: Gd open shell - 4f in core: E_bind {val['E_bind_dft'] - core['E_bind_dft']:+.1f}, "
                  f"E_exchange {val['E_exchange_dft'] - core['E_exchange_dft']:+.1f}")
        la, lu = by.get((lig, "La", "core")), by.get((lig, "Lu", "core"))
        if la and lu:
            for lvl in ("xtb", "dft"):
                a, b = la[f"E_exchange_{lvl}"], lu[f"E_exchange_{lvl}"]
                if a == a and b == b and a is not None and b is not None:
                    way = "stronger" if b < a else "weaker"
                    print(f"{lig}: E_exchange La -> Lu at {lvl.upper()}: {a:.1f} -> {b:.1f} ({b - a:+.1f}; binds "
                          f"{way} at Lu)")
    states = [p for p in result["single_points"] if "s_squared" in p]
    if states:
        print("\nOpen-shell states (⟨S²⟩; Mulliken spin and f populations on the metal, and the metal's spin outside "
              "its f shell, electrons)")
        for p in states:
            outside = p['metal_spin'] - (p['metal_f_alpha'] - p['metal_f_beta'])
            print(f"  {p['ligand'] or '-':<12} {p['what']:<10} <S2> {p['s_squared']:6.3f}  metal spin "
                  f"{p['metal_spin']:6.3f}  f alpha {p['metal_f_alpha']:6.3f}  f beta {p['metal_f_beta']:6.3f}  "
                  f"outside f {outside:6.3f}"
                  + (f"  REFUSED now: {p['refused']}" if p.get("refused") else ""))
    for p in result["single_points"]:
        if p.get("failed"):
            print(f"  {p['ligand'] or '-':<12} {p['what']:<10} not reproduced by --state-check ({p['scf_attempt']}): "
                  f"{p['failed']}")
    dft_bind = [r["E_bind_dft"] for r in result["rows"] if r["E_bind_dft"] == r["E_bind_dft"]
                and r["E_bind_dft"] is not None]
    if dft_bind:
        print(f"DFT E_bind range {min(dft_bind):.1f} … {max(dft_bind):.1f} kcal/mol; the paper's DFT scale "
              f"{PAPER_E_BIND[0]:.0f} … {PAPER_E_BIND[1]:.0f}")
    print("\nCost per single point (CPU-s over all threads; wall; 2 threads)")
    for c in sorted(result["costs"], key=lambda c: -(c["n_basis"] or 0)):
        shell = "open" if "open shell" in c["level"] else "core"
        print(f"  {c.get('ligand_name', ''):<12} {c['what']:<12} {shell:<5} {c['atoms']:>3} atoms {c['n_basis'] or 0:>5} bf  "
              f"{_f(c['cpu_s'])} CPU-s {_f(c['wall_s'])} s wall  {c['scf_cycles'] or 0:>3} cycles "
              f"{c.get('scf_attempt') or '':<16}  {c['status']}")


def export_two_level(store, ligands, metals, ctype: str) -> int:
    from core.levels import dft_level
    from core.pipeline.settings import FAST
    from core.storage.results import write_two_level_frames

    two_level = outputs(ctype)[1]
    two_level.parent.mkdir(parents=True, exist_ok=True)
    return write_two_level_frames(store, FAST, dft_level(), two_level, [lig.smiles for lig in ligands], metals,
                                  [ctype])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="the calibration's store folder (default data/dft/calibration, or "
                                       "data/dft/calibration-TYPE for another type)")
    parser.add_argument("--ligands", default="HOPO-methyl,CAM-methyl")
    parser.add_argument("--metals", default="La,Gd,Lu,Y")
    parser.add_argument("--type", default="1L6W")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--state-check", choices=("ions", "all"),
                        help="recompute open-shell points stored without their state (⟨S²⟩, 4f populations): "
                             "the bare and aqua ions, or every point")
    args = parser.parse_args()
    from core.chemistry.ligands import library_ligand
    from core.storage.store import Store

    ligands = [library_ligand(*name.split("-", 1)) for name in args.ligands.split(",")]
    metals = args.metals.split(",")
    out_json, two_level, default_work = outputs(args.type)
    store = Store(work_store(Path(args.work or default_work), ligands, args.type))
    start = time.perf_counter()
    if not args.report_only:
        refine_all(store, ligands, metals, args.type)
    if args.state_check:
        check_states(store, args.state_check)
    result = report(store, ligands, metals, args.type)
    result.update(date=str(date.today()), machine=f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
                  wall_s_this_run=round(time.perf_counter() - start, 1))
    out_json.write_text(json.dumps(result, indent=1, default=float))
    print_report(result, args.type)
    n = export_two_level(store, ligands, metals, args.type)
    print(f"\n{n} two-level frames written to {two_level.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
