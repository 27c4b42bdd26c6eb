//! [`Series`]: one indicator output, aligned bar for bar with its input.
//!
//! TA-Lib answers with a begin index and a shorter array; numpy wrappers pad
//! the front with NaN. A `Series` keeps both views: it is as long as the input,
//! holds NaN in the lookback (so [`Series::as_slice`] is the numpy view), and
//! remembers where the lookback ends, so [`Series::get`] answers `None` there
//! without confusing it with a NaN that came from a NaN input.

/// Appends `value` to `values`, which must have room for it (reserved by
/// [`Series::begin_push`]).
///
/// `Vec::push` has a path that grows the vector, a function call; in a loop
/// that keeps a dozen floats in registers, that call (cold as it is) makes
/// the compiler spill and reload them around it. Testing the room here
/// first lets it drop that path. A value without room would be dropped, and
/// the output come out short; the property tests check every length.
#[inline(always)]
pub(crate) fn push_reserved(values: &mut Vec<f64>, value: f64) {
    debug_assert!(values.len() < values.capacity(), "room was reserved");
    if values.len() < values.capacity() {
        values.push(value);
    }
}

/// One output line of an indicator, index-aligned with the input bars.
///
/// The first [`lookback`](Series::lookback) positions are empty (TA-Lib's
/// lookback); every later position holds a value.
///
/// Two series are equal when they have the same lookback and the same values,
/// a NaN being equal to a NaN (so that a series equals itself).
#[derive(Debug, Clone)]
pub struct Series {
    values: Vec<f64>,
    start: usize,
}

impl PartialEq for Series {
    fn eq(&self, other: &Self) -> bool {
        self.start == other.start
            && self.values.len() == other.values.len()
            && self
                .values
                .iter()
                .zip(&other.values)
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
    }
}

impl Default for Series {
    fn default() -> Self {
        Self::new()
    }
}

impl Series {
    /// An empty series, to be filled by one of the `*_into` functions.
    #[must_use]
    pub fn new() -> Self {
        Self {
            values: Vec::new(),
            start: 0,
        }
    }

    /// Makes this series `len` bars long with NaN in the first `lookback`
    /// bars, and returns the bars after the lookback for the indicator to
    /// fill (every one of them).
    ///
    /// A series that has the room is reused as it is: only the lookback is
    /// rewritten, so a caller computing indicator after indicator into the
    /// same series pays for neither allocation nor page faults. A new buffer
    /// is allocated zeroed (`calloc`, which the OS serves with untouched zero
    /// pages), so the indicator's own pass is the only one that writes it.
    ///
    /// The indicators that are hot paths use [`Series::begin_push`] instead,
    /// which writes every bar exactly once whatever the allocator does.
    pub(crate) fn begin(&mut self, len: usize, lookback: usize) -> &mut [f64] {
        let start = lookback.min(len);
        if self.values.capacity() < len {
            self.values = vec![0.0; len];
        } else {
            self.values.truncate(len);
            self.values.resize(len, 0.0);
        }
        self.values[..start].fill(f64::NAN);
        self.start = start;
        &mut self.values[start..]
    }

    /// Starts this series over for an input of `len` bars: NaN in the first
    /// `lookback` bars, and room for the rest, which the indicator then
    /// appends (exactly `len - lookback` values, in order) to the returned
    /// vector.
    ///
    /// Appending rather than overwriting is what makes the allocating API as
    /// fast as the `*_into` one: a zeroed buffer (`calloc`) is only free when
    /// the OS hands out fresh pages; a block the allocator reuses has to be
    /// cleared first, a whole extra pass over 8 MB for a million bars. Here a
    /// new buffer is reserved uninitialised and every bar is written once.
    /// A series that has the room keeps its allocation.
    pub(crate) fn begin_push(&mut self, len: usize, lookback: usize) -> &mut Vec<f64> {
        let start = lookback.min(len);
        self.values.clear();
        self.values.reserve_exact(len);
        self.values.resize(start, f64::NAN);
        self.start = start;
        &mut self.values
    }

    /// Number of bars (the length of the input).
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True for an empty input.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of leading bars without a value: TA-Lib's lookback, or the whole
    /// length when the input is shorter than that.
    #[must_use]
    pub fn lookback(&self) -> usize {
        self.start
    }

    /// Index of the first bar with a value, `None` when there is none.
    #[must_use]
    pub fn first_valid(&self) -> Option<usize> {
        (self.start < self.values.len()).then_some(self.start)
    }

    /// The value at bar `index`: `None` in the lookback or past the end.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<f64> {
        if index < self.start {
            None
        } else {
            self.values.get(index).copied()
        }
    }

    /// The value at the last bar, if it has one.
    #[must_use]
    pub fn last(&self) -> Option<f64> {
        self.values.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// All bars, NaN in the lookback (the layout numpy users expect).
    #[must_use]
    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    /// Only the computed values, from [`lookback`](Series::lookback) on.
    #[must_use]
    pub fn values(&self) -> &[f64] {
        &self.values[self.start..]
    }

    /// Every bar as an `Option`, `None` in the lookback.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<f64>> + '_ {
        let start = self.start;
        self.values
            .iter()
            .enumerate()
            .map(move |(i, &v)| (i >= start).then_some(v))
    }

    /// Every bar as an `Option`, `None` in the lookback.
    #[must_use]
    pub fn to_options(&self) -> Vec<Option<f64>> {
        self.iter().collect()
    }

    /// The full-length vector, NaN in the lookback.
    #[must_use]
    pub fn into_vec(self) -> Vec<f64> {
        self.values
    }
}
