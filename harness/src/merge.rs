//! `tfdiff merge`: joins the run directories of `--shard K/N` runs into one whose reports hold
//! what the unsharded run with the same seed holds. Every share was evaluated in the same order
//! as the unsharded run, and shrinking is deterministic, so each signature's row is the one from
//! the shard where it occurred first in that order, with the occurrences of all shards added.

use crate::baseline;
use crate::report::{
    print_table, DivergenceLog, DivergenceRow, PairSummary, RunDirectory, RunEnd, RunInfo,
    RunResults, DIVERGENCES_FILE, OCCURRENCES_FILE,
};
use crate::run::RunStatus;
use crate::run_on_disk::{input_position, RunOnDisk};
use crate::signature::Signature;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn merge(
    out: &Path,
    shard_dirs: &[PathBuf],
    allow_incomplete: bool,
    force: bool,
) -> Result<RunStatus> {
    refuse_output_among_inputs(out, shard_dirs)?;
    RunDirectory::check_out(out, force)?;
    let shards: Vec<RunOnDisk> = shard_dirs
        .iter()
        .map(|dir| RunOnDisk::read(dir))
        .collect::<Result<_>>()?;
    check_shards(&shards)?;
    for shard in &shards {
        shard.completeness(allow_incomplete)?;
    }
    let order = RowOrder::of(&shards[0].results);
    let rows = merged_rows(&shards, &order);
    let mut results = RunResults {
        info: merged_info(&shards, out, rows.len())?,
        pairs: merged_pairs(&shards),
        rows: rows.iter().map(|(row, _)| row.clone()).collect(),
    };
    let info = &mut results.info;
    baseline::judge(&info.baseline, &mut results.pairs, &mut results.rows);
    info.failing_signatures = baseline::failing(&results.rows);
    info.known_not_seen = baseline::known_not_seen(&info.baseline, &results.pairs, &results.rows);

    let mut run_dir = RunDirectory::create(Some(out), Path::new("reports"), "", force)?;
    let mut log = DivergenceLog::create(run_dir.path.join(DIVERGENCES_FILE))?;
    for (row, (_, shard)) in results.rows.iter().zip(&rows) {
        copy_artifacts(shard, &run_dir.path, row)?;
        log.append(row.clone())?;
    }
    write_occurrences(&shards, &order, &run_dir.path)?;
    run_dir.write_exports(&results)?;
    print_table(&results, &mut std::io::stdout().lock())?;
    eprintln!(
        "tfdiff: merged {} shard(s) into {}: {} signature(s), {} input(s)",
        shards.len(),
        out.display(),
        results.rows.len(),
        results.info.inputs_evaluated
    );
    Ok(RunStatus::of(&results))
}

/// The order of the unsharded run's rows: case, then input, then pair, as run.json lists them.
struct RowOrder {
    cases: Vec<String>,
    pairs: Vec<crate::mode::ModePair>,
}

impl RowOrder {
    fn of(results: &RunResults) -> RowOrder {
        RowOrder {
            cases: results.info.cases.iter().map(|c| c.name.clone()).collect(),
            pairs: results.info.config.pairs.clone(),
        }
    }

    fn key(&self, row: &DivergenceRow) -> impl Ord {
        (
            self.cases.iter().position(|case| *case == row.case),
            input_position(&row.input),
            self.pairs.iter().position(|pair| *pair == row.pair()),
        )
    }
}

/// Each signature's row from the shard where it came first, occurrences added up, in the
/// unsharded run's order; with the shard each came from.
fn merged_rows<'a>(
    shards: &'a [RunOnDisk],
    order: &RowOrder,
) -> Vec<(DivergenceRow, &'a RunOnDisk)> {
    let mut signatures: BTreeMap<Signature, (DivergenceRow, &RunOnDisk)> = BTreeMap::new();
    let mut occurrences: BTreeMap<Signature, u64> = BTreeMap::new();
    for shard in shards {
        for row in &shard.results.rows {
            let signature = row.signature();
            *occurrences.entry(signature.clone()).or_default() += row.occurrences;
            let earlier = signatures
                .get(&signature)
                .is_none_or(|(kept, _)| input_position(&row.input) < input_position(&kept.input));
            if earlier {
                signatures.insert(signature, (row.clone(), shard));
            }
        }
    }
    let mut rows: Vec<(DivergenceRow, &RunOnDisk)> = signatures
        .into_iter()
        .map(|(signature, (mut row, shard))| {
            row.occurrences = occurrences[&signature];
            (row, shard)
        })
        .collect();
    rows.sort_by_key(|(row, _)| order.key(row));
    rows
}

/// Every pair's summary over all shards, in the first shard's order.
fn merged_pairs(shards: &[RunOnDisk]) -> Vec<PairSummary> {
    shards[0]
        .results
        .pairs
        .iter()
        .map(|pair| {
            let parts: Vec<&PairSummary> = shards
                .iter()
                .filter_map(|shard| {
                    shard
                        .results
                        .pairs
                        .iter()
                        .find(|p| p.case == pair.case && p.pair() == pair.pair())
                })
                .collect();
            merge_pair(&parts)
        })
        .collect()
}

/// run.json of the merged run: the first shard's, with what differs per shard combined.
fn merged_info(shards: &[RunOnDisk], out: &Path, signatures: usize) -> Result<RunInfo> {
    let infos: Vec<&RunInfo> = shards.iter().map(|s| &s.results.info).collect();
    let mut info = serde_json::from_value::<RunInfo>(serde_json::to_value(infos[0])?)?;
    info.config.shard = None;
    info.config.out = Some(out.to_path_buf());
    info.command_line = std::env::args().collect();
    info.started_at = infos.iter().map(|i| i.started_at).min().expect("a shard");
    info.finished_at = infos.iter().filter_map(|i| i.finished_at).max();
    info.inputs_evaluated = infos.iter().map(|i| i.inputs_evaluated).sum();
    // The shards ran side by side: the merged run took as long as the slowest.
    let slowest =
        |seconds: fn(&RunInfo) -> f64| infos.iter().map(|info| seconds(info)).fold(0.0, f64::max);
    info.set_times(
        slowest(|i| i.evaluation_seconds),
        slowest(|i| i.elapsed_seconds),
    );
    info.regressions_replayed = infos.iter().map(|i| i.regressions_replayed).sum();
    info.regressions_saved = infos
        .iter()
        .flat_map(|i| i.regressions_saved.clone())
        .collect();
    info.shrink_seconds = infos.iter().map(|i| i.shrink_seconds).sum();
    info.interrupted = infos.iter().any(|i| i.interrupted);
    info.stop_signal = infos.iter().find_map(|i| i.stop_signal.clone());
    info.workers = merge_workers(infos.iter().map(|i| &i.workers));
    info.error = infos.iter().find_map(|i| i.error.clone());
    // Complete when every shard is; else the first shard's end that is not.
    info.ended = infos
        .iter()
        .map(|i| &i.ended)
        .find(|end| !end.is_complete())
        .cloned()
        .unwrap_or(RunEnd::Completed);
    info.signatures = signatures as u64;
    // One trace per rank is the design: the shards' largest count is the unsharded count.
    info.traces = merge_maps(infos.iter().map(|i| &i.traces), |merged, traces| {
        for (mode, count) in traces {
            let slot = merged.entry(mode.clone()).or_default();
            *slot = (*slot).max(*count);
        }
    });
    info.state_changes = merge_maps(infos.iter().map(|i| &i.state_changes), |m, v| union(m, v));
    info.tflite_xnnpack = merge_maps(infos.iter().map(|i| &i.tflite_xnnpack), |m, v| *m |= *v);
    info.xla_shapes = merge_maps(infos.iter().map(|i| &i.xla_shapes), |m, v| union(m, v));
    info.xla_compiles = info
        .xla_shapes
        .iter()
        .map(|(case, shapes)| (case.clone(), shapes.len() as u64))
        .collect();
    Ok(info)
}

/// Per-case maps of the shards joined case by case with `join`.
fn merge_maps<'a, V: Default + 'a>(
    parts: impl Iterator<Item = &'a BTreeMap<String, V>>,
    join: impl Fn(&mut V, &V),
) -> BTreeMap<String, V> {
    let mut merged = BTreeMap::new();
    for part in parts {
        for (case, value) in part {
            join(merged.entry(case.clone()).or_default(), value);
        }
    }
    merged
}

/// Sorted, without repeats.
fn union(merged: &mut Vec<String>, more: &[String]) {
    merged.extend(more.iter().cloned());
    merged.sort();
    merged.dedup();
}

/// `--all`: every shard's occurrences, in the unsharded run's order, with their inputs.
fn write_occurrences(shards: &[RunOnDisk], order: &RowOrder, out: &Path) -> Result<()> {
    let mut all: Vec<(DivergenceRow, &RunOnDisk)> = shards
        .iter()
        .flat_map(|shard| {
            shard
                .occurrences
                .iter()
                .map(move |row| (row.clone(), shard))
        })
        .collect();
    if all.is_empty() {
        return Ok(());
    }
    all.sort_by_key(|(row, _)| order.key(row));
    let mut log = DivergenceLog::create(out.join(OCCURRENCES_FILE))?;
    for (row, shard) in all {
        copy_if_present(shard, out, &row.reproducer)?;
        log.append(row)?;
    }
    Ok(())
}

/// `--out` must not be one of the shards: writing the merge there would overwrite that shard.
fn refuse_output_among_inputs(out: &Path, shard_dirs: &[PathBuf]) -> Result<()> {
    let Ok(out_real) = out.canonicalize() else {
        return Ok(()); // Not there yet: not one of the shards.
    };
    for dir in shard_dirs {
        if dir.canonicalize().is_ok_and(|real| real == out_real) {
            bail!(
                "--out {} is one of the shards being merged; writing there would overwrite it. \
                 Give another directory",
                out.display()
            );
        }
    }
    Ok(())
}

/// The shards must be the shares of one run: same configuration, every K of N present once.
fn check_shards(shards: &[RunOnDisk]) -> Result<()> {
    let Some(first) = shards.first() else {
        bail!("tfdiff merge needs the run directories of the shards to merge");
    };
    let config = &first.results.info.config;
    let Some(count) = config.shard.map(|s| s.count) else {
        bail!(
            "{}: not a shard (it was not run with --shard K/N)",
            first.dir.display()
        );
    };
    let mut seen = vec![false; count as usize];
    for shard in shards {
        let other = &shard.results.info.config;
        let Some(part) = other.shard.filter(|s| s.count == count) else {
            bail!(
                "{}: not a shard of {count} (run with --shard K/{count})",
                shard.dir.display()
            );
        };
        let Some(seen) = (part.index as usize)
            .checked_sub(1)
            .and_then(|index| seen.get_mut(index))
        else {
            bail!(
                "{}: run.json says shard {part}, which is not a shard of {count}",
                shard.dir.display()
            );
        };
        if *seen {
            bail!("shard {part} is given twice ({})", shard.dir.display());
        }
        *seen = true;
        let same = other.seed == config.seed
            && other.inputs == config.inputs
            && other.max_side == config.max_side
            && other.max_side_large == config.max_side_large
            && other.modes == config.modes
            && other.cases == config.cases
            && serde_json::to_value(&other.tolerance).ok()
                == serde_json::to_value(&config.tolerance).ok()
            && shard.results.info.environment["numpy"] == first.results.info.environment["numpy"]
            && shard.results.info.environment["tensorflow"]
                == first.results.info.environment["tensorflow"];
        if !same {
            bail!(
                "{} and {} are shards of different runs (seed, inputs, sides, modes, cases, \
                 tolerances or versions differ); merge the shards of one run",
                first.dir.display(),
                shard.dir.display()
            );
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        bail!(
            "shard {}/{count} is missing; merge needs all {count} shards",
            missing + 1
        );
    }
    Ok(())
}

/// The shards' workers side by side: counts added, per-slot figures listed shard after shard.
fn merge_workers<'a>(
    parts: impl Iterator<Item = &'a crate::pool::WorkerStats>,
) -> crate::pool::WorkerStats {
    let mut merged = crate::pool::WorkerStats::default();
    for part in parts {
        merged.jobs += part.jobs;
        merged.starts += part.starts;
        merged.restarts += part.restarts;
        merged.crashes += part.crashes;
        merged.timeouts += part.timeouts;
        merged.repeated_outputs += part.repeated_outputs;
        merged.restart_seconds += part.restart_seconds;
        merged.startup_seconds.extend(&part.startup_seconds);
        merged.peak_rss_mb.extend(&part.peak_rss_mb);
    }
    merged
}

/// One pair's summary over all shards.
fn merge_pair(parts: &[&PairSummary]) -> PairSummary {
    let mut merged = parts[0].clone();
    merged.inputs = parts.iter().map(|p| p.inputs).sum();
    merged.agree = parts.iter().map(|p| p.agree).sum();
    merged.diverge = parts.iter().map(|p| p.diverge).sum();
    merged.both_raised = parts.iter().map(|p| p.both_raised).sum();
    merged.kinds = BTreeMap::new();
    merged.ulp_histogram = Default::default();
    for part in parts {
        for (kind, count) in &part.kinds {
            *merged.kinds.entry(*kind).or_default() += count;
        }
        merged.ulp_histogram.merge(&part.ulp_histogram);
    }
    merged.max_abs = parts.iter().filter_map(|p| p.max_abs).reduce(f64::max);
    merged.max_rel = parts.iter().filter_map(|p| p.max_rel).reduce(f64::max);
    merged.max_ulp = parts.iter().filter_map(|p| p.max_ulp).max();
    merged.dtypes_a = parts.iter().flat_map(|p| p.dtypes_a.clone()).collect();
    merged.dtypes_b = parts.iter().flat_map(|p| p.dtypes_b.clone()).collect();
    let first_error = parts
        .iter()
        .filter(|p| p.first_error.is_some())
        .min_by_key(|p| input_position(p.first_error_input.as_deref().unwrap_or_default()));
    merged.first_error = first_error.and_then(|p| p.first_error.clone());
    merged.first_error_input = first_error.and_then(|p| p.first_error_input.clone());
    merged
}

/// Copies a row's reproducer, script and run-directory regression from its shard.
fn copy_artifacts(shard: &RunOnDisk, out: &Path, row: &DivergenceRow) -> Result<()> {
    copy_if_present(shard, out, &row.reproducer)?;
    copy_if_present(shard, out, &row.script)?;
    for output in row.output_files() {
        copy_if_present(shard, out, &output)?;
    }
    if let Some(name) = Path::new(&row.regression).file_name() {
        let kept = Path::new("regressions").join(&row.case).join(name);
        copy_if_present(shard, out, &kept.display().to_string())?;
        let json = kept.with_extension("json");
        copy_if_present(shard, out, &json.display().to_string())?;
    }
    Ok(())
}

/// Copies `relative` from the shard to the same place under `out`, when it is a file inside
/// the shard (a path that leads outside it is not followed).
fn copy_if_present(shard: &RunOnDisk, out: &Path, relative: &str) -> Result<()> {
    let (Some(source), Some(target)) = (
        shard.inside(relative),
        crate::run_on_disk::inside(out, relative),
    ) else {
        return Ok(());
    };
    if source.is_file() {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&source, &target)
            .with_context(|| format!("copying {} into the merged run", source.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Kind;
    use crate::mode::{Mode, ModePair};
    use crate::options::Shard;
    use crate::report::divergences::test_row;

    /// Shard `index` of `count`, read from a real run.json (tests/fixtures/run), with `rows`.
    fn shard(index: u64, count: u64, rows: Vec<DivergenceRow>) -> RunOnDisk {
        let mut shard = crate::run_on_disk::fixture_run(rows);
        shard.results.info.config.shard = Some(Shard { index, count });
        shard.dir = PathBuf::from(format!("shard{index}"));
        shard
    }

    fn row(input: &str, kind: Kind, occurrences: u64) -> DivergenceRow {
        let mut row = test_row(
            "scale01",
            input,
            ModePair::new(Mode::Numpy, Mode::Eager),
            kind,
        );
        row.occurrences = occurrences;
        row
    }

    #[test]
    fn each_signature_keeps_its_first_inputs_row_with_every_shards_occurrences() {
        let shards = [
            shard(
                1,
                2,
                vec![
                    row("4", Kind::Value, 2),
                    row("regression:a.npy", Kind::Nan, 1),
                ],
            ),
            shard(2, 2, vec![row("1", Kind::Value, 3), row("3", Kind::Nan, 1)]),
        ];
        let order = RowOrder::of(&shards[0].results);
        let rows = merged_rows(&shards, &order);
        let kept: Vec<(&str, Kind, u64, &Path)> = rows
            .iter()
            .map(|(row, shard)| {
                (
                    row.input.as_str(),
                    row.kind,
                    row.occurrences,
                    shard.dir.as_path(),
                )
            })
            .collect();
        // Regressions come before generated inputs, as the unsharded run evaluates them.
        assert_eq!(
            kept,
            [
                ("regression:a.npy", Kind::Nan, 2, Path::new("shard1")),
                ("1", Kind::Value, 5, Path::new("shard2")),
            ]
        );
    }

    #[test]
    fn rows_are_ordered_by_case_then_input_then_pair_as_the_run_lists_them() {
        let eager = ModePair::new(Mode::Numpy, Mode::Eager);
        let xla = ModePair::new(Mode::Numpy, Mode::Xla);
        let order = RowOrder {
            cases: vec!["b".into(), "a".into()],
            pairs: vec![xla, eager],
        };
        let mut rows = [
            test_row("a", "0", xla, Kind::Value),
            test_row("b", "2", eager, Kind::Value),
            test_row("b", "2", xla, Kind::Value),
            test_row("b", "1", eager, Kind::Value),
        ];
        rows.sort_by_key(|row| order.key(row));
        let order: Vec<(&str, &str, ModePair)> = rows
            .iter()
            .map(|r| (r.case.as_str(), r.input.as_str(), r.pair()))
            .collect();
        assert_eq!(
            order,
            [
                ("b", "1", eager),
                ("b", "2", xla),
                ("b", "2", eager),
                ("a", "0", xla)
            ]
        );
    }

    #[test]
    fn the_merged_run_json_adds_up_its_shards() {
        let mut shards = [shard(1, 2, vec![]), shard(2, 2, vec![])];
        let started = shards[0].results.info.started_at;
        for (index, shard) in shards.iter_mut().enumerate() {
            let info = &mut shard.results.info;
            info.inputs_evaluated = 10 + index as u64;
            info.set_times(1.5 + index as f64, 2.0 + index as f64);
            info.started_at = started + chrono::Duration::seconds(index as i64);
            info.regressions_replayed = 1;
            info.shrink_seconds = 0.5;
            info.traces = [(
                "c".to_string(),
                [("xla".to_string(), 1 + index as u64)].into(),
            )]
            .into();
            info.xla_shapes = [(
                "c".to_string(),
                vec![format!("{index}x1"), "9x9".to_string()],
            )]
            .into();
            info.state_changes = [("c".to_string(), vec![format!("change {index}")])].into();
            // XNNPACK ran in one shard's TFLite models only: it ran.
            info.tflite_xnnpack = [("c".to_string(), index == 1)].into();
        }
        shards[1].results.info.ended = RunEnd::Interrupted("SIGTERM".into());
        let info = merged_info(&shards, Path::new("out"), 3).unwrap();
        assert_eq!(info.inputs_evaluated, 21);
        assert_eq!(info.elapsed_seconds, 3.0, "side by side: the slowest shard");
        assert_eq!(info.evaluation_seconds, 2.5);
        assert_eq!(info.inputs_per_second, 21.0 / 2.5);
        assert_eq!(info.started_at, started);
        assert_eq!((info.regressions_replayed, info.shrink_seconds), (2, 1.0));
        assert_eq!(
            info.traces["c"]["xla"], 2,
            "a trace per rank: the largest count"
        );
        assert_eq!(info.xla_shapes["c"], ["0x1", "1x1", "9x9"]);
        assert_eq!(info.xla_compiles["c"], 3);
        assert_eq!(info.state_changes["c"], ["change 0", "change 1"]);
        assert!(info.tflite_xnnpack["c"]);
        assert_eq!(info.ended, RunEnd::Interrupted("SIGTERM".into()));
        assert_eq!((info.signatures, info.config.shard), (3, None));
        assert_eq!(info.config.out.as_deref(), Some(Path::new("out")));
        shards[1].results.info.ended = RunEnd::Completed;
        assert_eq!(
            merged_info(&shards, Path::new("out"), 3).unwrap().ended,
            RunEnd::Completed
        );
    }

    #[test]
    fn each_pair_is_summed_over_the_shards() {
        use crate::histogram::{Bucket, InputCounts, UlpHistogram};
        let mut shards = [shard(1, 2, vec![]), shard(2, 2, vec![])];
        let input = |ulp: u64, elements: u64| {
            let mut counts = InputCounts::default();
            counts.add(Bucket::of(ulp), elements);
            counts
        };
        let (first, second) = (input(0, 9), input(5, 2));
        shards[0].results.pairs[0].ulp_histogram.add_input(&first);
        shards[1].results.pairs[0].ulp_histogram.add_input(&second);
        let mut whole = UlpHistogram::default();
        whole.add_input(&first);
        whole.add_input(&second);
        assert_eq!(
            merged_pairs(&shards)[0].ulp_histogram,
            whole,
            "merged exactly"
        );
        let shards = [shard(1, 2, vec![]), shard(2, 2, vec![])];
        let pairs = merged_pairs(&shards);
        let first = &shards[0].results.pairs;
        assert_eq!(pairs.len(), first.len());
        for (merged, one) in pairs.iter().zip(first) {
            assert_eq!(
                (merged.case.as_str(), merged.pair()),
                (one.case.as_str(), one.pair())
            );
            assert_eq!(merged.inputs, 2 * one.inputs);
            assert_eq!(merged.agree, 2 * one.agree);
        }
    }

    #[test]
    fn a_pair_is_matched_across_shards_by_case_and_modes_together() {
        let summary = |case: &str, b: Mode, inputs: u64| {
            let mut pair = PairSummary::new(case, ModePair::new(Mode::Numpy, b));
            (pair.inputs, pair.agree) = (inputs, inputs);
            pair
        };
        let mut shards = [shard(1, 2, vec![]), shard(2, 2, vec![])];
        shards[0].results.pairs = vec![
            summary("a", Mode::Eager, 1),
            summary("a", Mode::Xla, 2),
            summary("b", Mode::Eager, 4),
        ];
        // The second shard lists them in another order.
        shards[1].results.pairs = vec![
            summary("b", Mode::Eager, 40),
            summary("a", Mode::Xla, 20),
            summary("a", Mode::Eager, 10),
        ];
        let merged: Vec<(String, Mode, u64)> = merged_pairs(&shards)
            .into_iter()
            .map(|p| (p.case.clone(), p.mode_b, p.inputs))
            .collect();
        assert_eq!(
            merged,
            [
                ("a".to_string(), Mode::Eager, 11),
                ("a".to_string(), Mode::Xla, 22),
                ("b".to_string(), Mode::Eager, 44),
            ]
        );
    }

    #[test]
    fn a_rows_reproducer_script_and_regression_are_copied_with_the_regressions_json() {
        let root = tempfile::tempdir().unwrap();
        let mut shard = shard(1, 2, vec![]);
        shard.dir = root.path().join("shard1");
        let files = [
            "inputs/x.npy",
            "scripts/x.py",
            "regressions/scale01/r.npy",
            "regressions/scale01/r.json",
            "outputs/scale01-numpy-eager-value.a.npy",
            "outputs/scale01-numpy-eager-value.b.npy",
        ];
        for file in files {
            let path = shard.dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, file).unwrap();
        }
        let out = root.path().join("out");
        let mut row = row("3", Kind::Value, 1);
        (row.reproducer, row.script) = ("inputs/x.npy".into(), "scripts/x.py".into());
        // Where the run saved it: only the file name is looked up in the shard's copy.
        row.regression = "/project/cases/regressions/scale01/r.npy".into();
        copy_artifacts(&shard, &out, &row).unwrap();
        for file in files {
            assert_eq!(
                std::fs::read_to_string(out.join(file)).unwrap(),
                file,
                "{file}"
            );
        }
    }

    #[test]
    fn occurrences_and_the_files_rows_name_are_copied_from_inside_the_shards() {
        let root = tempfile::tempdir().unwrap();
        let mut shards = [shard(1, 2, vec![]), shard(2, 2, vec![])];
        for (index, shard) in shards.iter_mut().enumerate() {
            shard.dir = root.path().join(format!("shard{}", index + 1));
            std::fs::create_dir_all(shard.dir.join("inputs")).unwrap();
            let mut occurrence = row(&(3 - index).to_string(), Kind::Value, 1);
            occurrence.reproducer = format!("inputs/input-{index}.npy");
            std::fs::write(shard.dir.join(&occurrence.reproducer), "npy").unwrap();
            shard.occurrences.push(occurrence);
        }
        let out = root.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        write_occurrences(&shards, &RowOrder::of(&shards[0].results), &out).unwrap();
        let rows = crate::run_on_disk::read_rows(&out.join(OCCURRENCES_FILE)).unwrap();
        let inputs: Vec<&str> = rows.iter().map(|r| r.input.as_str()).collect();
        assert_eq!(inputs, ["2", "3"], "in input order");
        assert!(
            out.join("inputs/input-0.npy").is_file() && out.join("inputs/input-1.npy").is_file()
        );
        // No occurrences, no file.
        let empty = root.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let plain = [shard(1, 2, vec![]), shard(2, 2, vec![])];
        write_occurrences(&plain, &RowOrder::of(&plain[0].results), &empty).unwrap();
        assert!(!empty.join(OCCURRENCES_FILE).exists());
    }

    #[test]
    fn the_output_may_not_be_one_of_the_shards() {
        let root = tempfile::tempdir().unwrap();
        let (one, two) = (root.path().join("one"), root.path().join("two"));
        std::fs::create_dir_all(&one).unwrap();
        std::fs::create_dir_all(&two).unwrap();
        let shards = [one.clone(), two.clone()];
        let error = refuse_output_among_inputs(&root.path().join("one/../two"), &shards);
        assert!(error
            .unwrap_err()
            .to_string()
            .contains("is one of the shards"));
        assert!(refuse_output_among_inputs(&root.path().join("new"), &shards).is_ok());
        assert!(refuse_output_among_inputs(root.path(), &shards).is_ok());
    }

    #[test]
    fn the_shards_of_one_run_are_all_there_once() {
        let error = |shards: &[RunOnDisk]| check_shards(shards).unwrap_err().to_string();
        assert!(check_shards(&[shard(2, 2, vec![]), shard(1, 2, vec![])]).is_ok());
        assert!(error(&[shard(1, 2, vec![])]).contains("shard 2/2 is missing"));
        assert!(error(&[shard(1, 2, vec![]), shard(1, 2, vec![])]).contains("given twice"));
        assert!(error(&[shard(1, 2, vec![]), shard(2, 3, vec![])]).contains("not a shard of 2"));
        assert!(error(&[shard(0, 2, vec![])]).contains("which is not a shard of 2"));
        assert!(error(&[shard(3, 2, vec![])]).contains("which is not a shard of 2"));
        let mut other_seed = shard(2, 2, vec![]);
        other_seed.results.info.config.seed += 1;
        assert!(error(&[shard(1, 2, vec![]), other_seed]).contains("shards of different runs"));
        let mut unsharded = shard(1, 2, vec![]);
        unsharded.results.info.config.shard = None;
        assert!(error(&[unsharded]).contains("not a shard"));
        assert!(error(&[]).contains("needs the run directories"));
    }

    #[test]
    fn a_pairs_counts_add_up_and_its_errors_are_the_largest() {
        let part = |inputs, diverge, max_abs, max_ulp, first_error: Option<(&str, &str)>| {
            let mut pair = PairSummary::new("c", ModePair::new(Mode::Numpy, Mode::Eager));
            (pair.inputs, pair.agree, pair.diverge) = (inputs, inputs - diverge, diverge);
            (pair.max_abs, pair.max_ulp) = (max_abs, max_ulp);
            pair.kinds.insert(Kind::Value, diverge);
            pair.both_raised = 1;
            pair.first_error = first_error.map(|(_, error)| error.to_string());
            pair.first_error_input = first_error.map(|(input, _)| input.to_string());
            pair
        };
        let one = part(4, 1, Some(1e-7), Some(2), Some(("7", "later")));
        let two = part(5, 2, Some(3e-7), Some(1), Some(("2", "earlier")));
        let three = part(3, 0, None, None, None);
        let merged = merge_pair(&[&one, &two, &three]);
        assert_eq!((merged.inputs, merged.agree, merged.diverge), (12, 9, 3));
        assert_eq!(merged.both_raised, 3);
        assert_eq!(merged.kinds[&Kind::Value], 3);
        assert_eq!((merged.max_abs, merged.max_ulp), (Some(3e-7), Some(2)));
        assert_eq!(merged.first_error.as_deref(), Some("earlier"));
        assert_eq!(merged.first_error_input.as_deref(), Some("2"));
    }

    #[test]
    fn workers_of_the_shards_are_added_and_listed() {
        let part = |jobs, starts| crate::pool::WorkerStats {
            jobs,
            starts,
            restarts: starts - 1,
            crashes: 1,
            timeouts: 2,
            restart_seconds: 0.5,
            startup_seconds: vec![2.0],
            peak_rss_mb: vec![600.0],
            repeated_outputs: 5,
        };
        let merged = merge_workers([part(2, 3), part(1, 1)].iter());
        assert_eq!((merged.jobs, merged.starts, merged.restarts), (3, 4, 2));
        assert_eq!((merged.crashes, merged.timeouts), (2, 4));
        assert_eq!(merged.repeated_outputs, 10);
        assert_eq!(merged.restart_seconds, 1.0);
        assert_eq!(merged.startup_seconds, [2.0, 2.0]);
        assert_eq!(merged.peak_rss_mb.len(), 2);
    }
}
