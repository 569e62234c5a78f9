//! The order a run sends its inputs out in: round-robin over as many cases at a time as there
//! are workers, the next case taking the place of one whose inputs are all out. Each worker
//! process traces a case's functions once per input rank and loads or compiles an XLA program
//! per input shape; sent case after case, every worker had inputs of the same case in flight
//! and each paid those costs for it (in a warm default run the two workers made 54 graph
//! traces between them where 32 (case, rank)s need one each; interleaved, 43). Interleaved,
//! the scheduler gives each case a home worker of its own (`pool/scheduler.rs`), and a worker
//! runs another's case only when it would otherwise idle. The order depends only on the cases' input counts and the number of workers, and
//! results are taken in each case's own input order, so no report depends on it.

/// (case, input number) pairs: every input of every case once, each case's in order, at most
/// `width` cases interleaved (at least one).
pub fn order(lengths: &[usize], width: usize) -> Vec<(usize, usize)> {
    let mut order = Vec::with_capacity(lengths.iter().sum());
    // (case, its next input), in the order the cases came in.
    let mut active: Vec<(usize, usize)> = Vec::new();
    let mut next_case = 0;
    loop {
        while active.len() < width.max(1) && next_case < lengths.len() {
            if lengths[next_case] > 0 {
                active.push((next_case, 0));
            }
            next_case += 1;
        }
        if active.is_empty() {
            return order;
        }
        for entry in &mut active {
            order.push(*entry);
            entry.1 += 1;
        }
        active.retain(|&(case, next)| next < lengths[case]);
    }
}

#[cfg(test)]
mod tests {
    use super::order;

    #[test]
    fn one_worker_sends_case_after_case() {
        assert_eq!(order(&[2, 1], 1), vec![(0, 0), (0, 1), (1, 0)]);
        assert_eq!(order(&[2, 1], 0), vec![(0, 0), (0, 1), (1, 0)]);
    }

    #[test]
    fn a_finished_case_makes_room_for_the_next() {
        assert_eq!(
            order(&[1, 3, 2], 2),
            vec![(0, 0), (1, 0), (1, 1), (2, 0), (1, 2), (2, 1)]
        );
    }

    #[test]
    fn cases_without_inputs_are_skipped() {
        assert_eq!(order(&[0, 1, 0, 1], 2), vec![(1, 0), (3, 0)]);
        assert!(order(&[0, 0], 2).is_empty());
    }

    #[test]
    fn every_input_once_and_each_case_in_its_own_order() {
        let lengths = [5, 0, 3, 7, 1, 4];
        for width in 1..=4 {
            let order = order(&lengths, width);
            assert_eq!(order.len(), lengths.iter().sum::<usize>());
            for (case, &length) in lengths.iter().enumerate() {
                let numbers: Vec<usize> = order
                    .iter()
                    .filter(|(c, _)| *c == case)
                    .map(|(_, n)| *n)
                    .collect();
                assert_eq!(numbers, (0..length).collect::<Vec<_>>());
            }
        }
    }
}
