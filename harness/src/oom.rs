//! Running out of memory names what tfdiff was doing. Rust's own message for a failed
//! allocation ("memory allocation of 1152000000 bytes failed") names no case and no input, and
//! the process aborts right after it. So the driver keeps a note of the input it is on, and the
//! allocator, when an allocation fails, writes that note to stderr before Rust's message. The
//! note lives in a fixed buffer of atomics: the failure path may not allocate or lock.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

const NOTE_BYTES: usize = 240;
/// Notes kept apart: the driver's main thread (0) and one per worker slot; slots beyond that
/// share the last one.
const NOTES: usize = 33;

/// One thread's (or one slot's threads') note of what it is doing.
struct Note {
    bytes: [AtomicU8; NOTE_BYTES],
    len: AtomicUsize,
}

static NOTE: [Note; NOTES] = [const {
    Note {
        bytes: [const { AtomicU8::new(0) }; NOTE_BYTES],
        len: AtomicUsize::new(0),
    }
}; NOTES];

thread_local! {
    /// Which note this thread writes and reports: with several slots receiving outputs at
    /// once, a failed allocation names what its own thread was on.
    static NOTE_INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The note this thread uses; another thread doing the same work (a worker's output reader
/// for its slot) shares it with `use_note`.
pub fn current_note() -> usize {
    NOTE_INDEX.try_with(Cell::get).unwrap_or(0)
}

/// Makes this thread write and report note `index` (a slot's number; 0 is the driver's).
pub fn use_note(index: usize) {
    let _ = NOTE_INDEX.try_with(|current| current.set(index.min(NOTES - 1)));
}

/// Records what this thread is working on ("case scale01, input 17"); cut to fit.
pub fn working_on(what: &str) {
    let note = &NOTE[current_note()];
    let bytes = &what.as_bytes()[..what.len().min(NOTE_BYTES)];
    note.len.store(0, Ordering::Relaxed);
    for (slot, &byte) in note.bytes.iter().zip(bytes) {
        slot.store(byte, Ordering::Relaxed);
    }
    note.len.store(bytes.len(), Ordering::Release);
}

/// The system allocator, which says what tfdiff was doing when an allocation fails.
pub struct NamingAllocator;

// SAFETY: every call is passed to `System` unchanged; only a failed allocation adds a write
// to stderr, which neither allocates nor touches the memory involved.
unsafe impl GlobalAlloc for NamingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if pointer.is_null() {
            report(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if pointer.is_null() {
            report(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, size) };
        if moved.is_null() {
            report(size);
        }
        moved
    }
}

/// Writes the message (see `compose`) to stderr without allocating.
fn report(size: usize) {
    let mut line = [0u8; LINE_BYTES];
    let end = compose(size, &mut line);
    // SAFETY: writes a buffer this function owns to fd 2.
    unsafe {
        libc::write(2, line.as_ptr().cast(), end);
    }
}

// The fixed words (about 110 bytes) and 20 digits fit beside a full note.
const LINE_BYTES: usize = NOTE_BYTES + 160;

/// "tfdiff: out of memory: N bytes could not be allocated while <note>; ..." into `line`,
/// without allocating; returns its length.
fn compose(size: usize, line: &mut [u8; LINE_BYTES]) -> usize {
    let mut end = 0;
    let mut put = |bytes: &[u8]| {
        let n = bytes.len().min(LINE_BYTES - end);
        line[end..end + n].copy_from_slice(&bytes[..n]);
        end += n;
    };
    put(b"tfdiff: out of memory: ");
    let mut digits = [0u8; 20];
    let (mut value, mut start) = (size, digits.len());
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    put(&digits[start..]);
    put(b" bytes could not be allocated while ");
    let note = &NOTE[current_note()];
    let len = note.len.load(Ordering::Acquire);
    if len == 0 {
        put(b"starting");
    }
    for slot in &note.bytes[..len] {
        put(&[slot.load(Ordering::Relaxed)]);
    }
    put(b"; lower --max-output-bytes or give tfdiff more memory\n");
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_out_of_memory_message_names_what_the_driver_was_on() {
        working_on("comparing the outputs of case huge_int64, input 3");
        let mut line = [0u8; LINE_BYTES];
        let end = compose(1_152_000_000, &mut line);
        assert_eq!(
            std::str::from_utf8(&line[..end]).unwrap(),
            "tfdiff: out of memory: 1152000000 bytes could not be allocated while comparing \
             the outputs of case huge_int64, input 3; lower --max-output-bytes or give tfdiff \
             more memory\n"
        );
        // A note too long is cut to its buffer; the advice still ends the line.
        working_on(&"x".repeat(1000));
        let end = compose(usize::MAX, &mut line);
        let text = std::str::from_utf8(&line[..end]).unwrap();
        assert_eq!(text.matches('x').count(), NOTE_BYTES + 1, "{text}"); // + "max"
        assert!(text.ends_with("give tfdiff more memory\n"), "{text}");
    }

    #[test]
    fn each_slots_threads_report_their_own_note() {
        // A thread of slot `index` that notes `what` (None: notes nothing, as a worker's
        // output reader) and then fails to allocate.
        let on = |index: usize, what: Option<&'static str>| {
            std::thread::spawn(move || {
                use_note(index);
                if let Some(what) = what {
                    working_on(what);
                }
                let mut line = [0u8; LINE_BYTES];
                let end = compose(8, &mut line);
                String::from_utf8(line[..end].to_vec()).unwrap()
            })
            .join()
            .unwrap()
        };
        let one = on(1, Some("receiving case a (slot 1)"));
        let two = on(2, Some("receiving case b (slot 2)"));
        assert!(one.contains("while receiving case a (slot 1);"), "{one}");
        assert!(two.contains("while receiving case b (slot 2);"), "{two}");
        // Slot 2's output reader reports slot 2's note, not slot 1's.
        let reader = on(2, None);
        assert!(
            reader.contains("while receiving case b (slot 2);"),
            "{reader}"
        );
    }
}
