//! The run loop's round-robin runqueue: every runnable task gets the CPU in turn, nobody twice
//! before everyone once, and the queue never loses or duplicates a task.

use perfcore::sim::RunQueue;
use perfcore::task::TaskId;
use proptest::prelude::*;

proptest! {
    /// With n runnable tasks, n consecutive slice ends hand the CPU to n different tasks, and
    /// the whole set (running + queued) is preserved.
    #[test]
    fn round_robin_is_fair(n in 1u32..12, rounds in 1usize..50) {
        let mut rq = RunQueue::default();
        for t in 0..n {
            rq.enqueue(TaskId(t));
        }
        let mut cur = rq.pick_next(None, false);
        let mut order = vec![cur.unwrap()];
        for _ in 0..rounds * n as usize {
            if let Some(next) = rq.pick_next(cur, true) {
                cur = Some(next);
            }
            order.push(cur.unwrap());
            let mut all: Vec<u32> = rq.tasks().map(|t| t.0).chain(cur.map(|t| t.0)).collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
        for w in order.windows(n as usize) {
            let mut ids: Vec<u32> = w.iter().map(|t| t.0).collect();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), n as usize, "a window of n slices saw every task once");
        }
    }

    /// Random enqueue/remove/pick sequences against a Vec model.
    #[test]
    fn queue_matches_a_vec_model(ops in prop::collection::vec((0u8..3, 0u32..6), 0..80)) {
        let mut rq = RunQueue::default();
        let mut model: Vec<u32> = Vec::new();
        let mut cur: Option<u32> = None;
        for (op, t) in ops {
            match op {
                0 => {
                    if !model.contains(&t) && cur != Some(t) {
                        model.push(t);
                        rq.enqueue(TaskId(t));
                    }
                }
                1 => {
                    let was = model.contains(&t);
                    model.retain(|x| *x != t);
                    prop_assert_eq!(rq.remove(TaskId(t)), was);
                }
                _ => {
                    let got = rq.pick_next(cur.map(TaskId), true).map(|x| x.0);
                    if model.is_empty() {
                        prop_assert_eq!(got, None);
                    } else {
                        let next = model.remove(0);
                        if let Some(c) = cur {
                            model.push(c);
                        }
                        prop_assert_eq!(got, Some(next));
                        cur = Some(next);
                    }
                }
            }
            prop_assert_eq!(rq.tasks().map(|x| x.0).collect::<Vec<_>>(), model.clone());
            prop_assert_eq!(rq.len(), model.len());
        }
    }
}

#[test]
fn a_task_that_may_not_stay_is_not_requeued() {
    let mut rq = RunQueue::default();
    rq.enqueue(TaskId(1));
    assert_eq!(rq.pick_next(Some(TaskId(0)), false), Some(TaskId(1)));
    assert!(rq.is_empty());
    assert_eq!(rq.pick_next(Some(TaskId(1)), true), None, "nothing waits: the task keeps the CPU");
}
