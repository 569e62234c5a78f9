//! `tfdiff merge`: joins the run directories of `--shard K/N` runs into one whose reports hold
//! what the unsharded run with the same seed holds. Every share was evaluated in the same order
//! as the unsharded run, and shrinking is deterministic, so each signature's row is the one from
//! the shard where it occurred first in that order, with the occurrences of all shards added.

use crate::report::{
    print_table, DivergenceLog, DivergenceRow, PairSummary, RunDirectory, RunEnd, RunResults,
    DIVERGENCES_FILE, OCCURRENCES_FILE,
};
use crate::run::{failing, judge, known_not_seen, RunStatus};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where an input comes in a run: saved regressions (by file name) before generated inputs (by
/// number). The order the unsharded run evaluates them in.
pub fn input_position(label: &str) -> (u8, u64, String) {
    match label.parse::<u64>() {
        Ok(number) => (1, number, String::new()),
        Err(_) => (0, 0, label.to_string()),
    }
}

/// A run directory as read back from its files.
pub struct RunOnDisk {
    pub dir: PathBuf,
    pub results: RunResults,
    pub occurrences: Vec<DivergenceRow>,
}

impl RunOnDisk {
    pub fn read(dir: &Path) -> Result<RunOnDisk> {
        let json = dir.join("run.json");
        let text = std::fs::read_to_string(&json).with_context(|| {
            format!(
                "{}: not a tfdiff run directory (no readable run.json)",
                dir.display()
            )
        })?;
        let mut results: RunResults = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a run.json this tfdiff can read", json.display()))?;
        if results.info.ended == RunEnd::Unknown {
            // Written before run.json said how a run ended: what it did say.
            results.info.ended = results.info.end();
        }
        results.rows = read_rows(&dir.join(DIVERGENCES_FILE))?;
        let occurrences_file = dir.join(OCCURRENCES_FILE);
        let occurrences = if occurrences_file.is_file() {
            read_rows(&occurrences_file)?
        } else {
            Vec::new()
        };
        Ok(RunOnDisk {
            dir: dir.to_path_buf(),
            results,
            occurrences,
        })
    }
}

impl RunOnDisk {
    /// Whether the run may be used: a complete run may; an incomplete one is an error naming
    /// how it ended, unless `allow`, when it is the note its user's outputs must carry.
    pub fn completeness(&self, allow: bool) -> Result<Option<String>> {
        let Some(note) = self.results.info.ended.incomplete_note() else {
            return Ok(None);
        };
        let note = format!("{}: {note}", self.dir.display());
        if !allow {
            bail!(
                "{note} Use complete runs (run it again), or pass --allow-incomplete to use \
                 what it holds"
            );
        }
        eprintln!("tfdiff: warning: {note}");
        Ok(Some(note))
    }
}

fn read_rows(path: &Path) -> Result<Vec<DivergenceRow>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    reader
        .deserialize()
        .map(|row| row.with_context(|| format!("{}: a row tfdiff did not write", path.display())))
        .collect()
}

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

    let first = &shards[0].results;
    let case_order: Vec<&str> = first.info.cases.iter().map(|c| c.name.as_str()).collect();
    let pair_order = &first.info.config.pairs;
    let sort_key = |row: &DivergenceRow| {
        (
            case_order.iter().position(|c| *c == row.case),
            input_position(&row.input),
            pair_order
                .iter()
                .position(|p| *p == (row.mode_a, row.mode_b)),
        )
    };

    let mut pairs: Vec<PairSummary> = first.pairs.clone();
    for pair in &mut pairs {
        let parts: Vec<&PairSummary> = shards
            .iter()
            .filter_map(|shard| {
                shard.results.pairs.iter().find(|p| {
                    p.case == pair.case && p.mode_a == pair.mode_a && p.mode_b == pair.mode_b
                })
            })
            .collect();
        *pair = merge_pair(&parts);
    }

    // Each signature from the shard where it came first, occurrences added up.
    let mut signatures: BTreeMap<(String, String, String, String), (DivergenceRow, &Path)> =
        BTreeMap::new();
    let mut occurrences: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    for shard in &shards {
        for row in &shard.results.rows {
            let key = (
                row.case.clone(),
                row.mode_a.to_string(),
                row.mode_b.to_string(),
                row.kind.clone(),
            );
            *occurrences.entry(key.clone()).or_default() += row.occurrences;
            let earlier = signatures
                .get(&key)
                .is_none_or(|(kept, _)| input_position(&row.input) < input_position(&kept.input));
            if earlier {
                signatures.insert(key, (row.clone(), shard.dir.as_path()));
            }
        }
    }
    let mut rows: Vec<(DivergenceRow, &Path)> = signatures
        .into_iter()
        .map(|(key, (mut row, dir))| {
            row.occurrences = occurrences[&key];
            (row, dir)
        })
        .collect();
    rows.sort_by_key(|(row, _)| sort_key(row));

    let mut info = serde_json::from_value::<RunResults>(serde_json::to_value(first)?)?.info;
    info.config.shard = None;
    info.config.out = Some(out.to_path_buf());
    info.command_line = std::env::args().collect();
    info.started_at = shards
        .iter()
        .map(|s| s.results.info.started_at)
        .min()
        .unwrap();
    info.finished_at = shards
        .iter()
        .filter_map(|s| s.results.info.finished_at)
        .max();
    info.inputs_evaluated = shards.iter().map(|s| s.results.info.inputs_evaluated).sum();
    // The shards ran side by side: the merged run took as long as the slowest.
    info.set_elapsed(
        shards
            .iter()
            .map(|s| s.results.info.elapsed_seconds)
            .fold(0.0, f64::max),
    );
    info.regressions_replayed = shards
        .iter()
        .map(|s| s.results.info.regressions_replayed)
        .sum();
    info.regressions_saved = shards
        .iter()
        .flat_map(|s| s.results.info.regressions_saved.clone())
        .collect();
    info.shrink_seconds = shards.iter().map(|s| s.results.info.shrink_seconds).sum();
    info.interrupted = shards.iter().any(|s| s.results.info.interrupted);
    info.stop_signal = shards
        .iter()
        .find_map(|s| s.results.info.stop_signal.clone());
    info.workers = merge_workers(shards.iter().map(|s| &s.results.info.workers));
    info.error = shards.iter().find_map(|s| s.results.info.error.clone());
    // Complete when every shard is; else the first shard's end that is not.
    info.ended = shards
        .iter()
        .map(|s| &s.results.info.ended)
        .find(|end| !end.is_complete())
        .cloned()
        .unwrap_or(RunEnd::Completed);
    info.signatures = rows.len() as u64;
    // One trace per rank is the design: the shards' largest count is the unsharded count.
    info.traces = BTreeMap::new();
    for shard in &shards {
        for (case, traces) in &shard.results.info.traces {
            let merged = info.traces.entry(case.clone()).or_default();
            for (mode, count) in traces {
                let slot = merged.entry(mode.clone()).or_default();
                *slot = (*slot).max(*count);
            }
        }
    }
    info.state_changes = BTreeMap::new();
    for shard in &shards {
        for (case, changes) in &shard.results.info.state_changes {
            let merged = info.state_changes.entry(case.clone()).or_default();
            merged.extend(changes.iter().cloned());
            merged.sort();
            merged.dedup();
        }
    }
    info.xla_shapes = BTreeMap::new();
    for shard in &shards {
        for (case, shapes) in &shard.results.info.xla_shapes {
            let merged = info.xla_shapes.entry(case.clone()).or_default();
            merged.extend(shapes.iter().cloned());
            merged.sort();
            merged.dedup();
        }
    }
    info.xla_compiles = info
        .xla_shapes
        .iter()
        .map(|(case, shapes)| (case.clone(), shapes.len() as u64))
        .collect();

    let mut results = RunResults {
        info,
        pairs,
        rows: Vec::new(),
    };
    let mut plain_rows: Vec<DivergenceRow> = rows.iter().map(|(row, _)| row.clone()).collect();
    judge(&results.info.baseline, &mut results.pairs, &mut plain_rows);
    results.info.failing_signatures = failing(&plain_rows);
    results.info.known_not_seen = known_not_seen(&results, &plain_rows);
    results.rows = plain_rows;

    let run_dir = RunDirectory::create(Some(out), Path::new("reports"), "", force)?;
    let mut log = DivergenceLog::create(run_dir.path.join(DIVERGENCES_FILE))?;
    for (row, (_, shard_dir)) in results.rows.iter().zip(&rows) {
        copy_artifacts(shard_dir, &run_dir.path, row)?;
        log.append(row.clone())?;
    }
    let mut all: Vec<DivergenceRow> = shards.iter().flat_map(|s| s.occurrences.clone()).collect();
    if !all.is_empty() {
        all.sort_by_key(sort_key);
        let mut occurrence_log = DivergenceLog::create(run_dir.path.join(OCCURRENCES_FILE))?;
        for row in all {
            for shard in &shards {
                copy_if_present(&shard.dir, &run_dir.path, &row.reproducer)?;
            }
            occurrence_log.append(row)?;
        }
    }
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
        if seen[(part.index - 1) as usize] {
            bail!("shard {part} is given twice ({})", shard.dir.display());
        }
        seen[(part.index - 1) as usize] = true;
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
    for part in parts {
        for (kind, count) in &part.kinds {
            *merged.kinds.entry(*kind).or_default() += count;
        }
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
fn copy_artifacts(shard_dir: &Path, out: &Path, row: &DivergenceRow) -> Result<()> {
    copy_if_present(shard_dir, out, &row.reproducer)?;
    copy_if_present(shard_dir, out, &row.script)?;
    if let Some(name) = Path::new(&row.regression).file_name() {
        let kept = Path::new("regressions").join(&row.case).join(name);
        copy_if_present(shard_dir, out, &kept.display().to_string())?;
        let json = kept.with_extension("json");
        copy_if_present(shard_dir, out, &json.display().to_string())?;
    }
    Ok(())
}

fn copy_if_present(from_dir: &Path, to_dir: &Path, relative: &str) -> Result<()> {
    if relative.is_empty() || Path::new(relative).is_absolute() {
        return Ok(());
    }
    let source = from_dir.join(relative);
    if source.is_file() {
        let target = to_dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&source, &target)
            .with_context(|| format!("copying {} into the merged run", source.display()))?;
    }
    Ok(())
}
