//! The error type of the indicator functions.

/// Why an indicator function refused its arguments.
///
/// Input that is merely short (even empty) is not an error: the output is
/// then all lookback, as TA-Lib answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IndicatorError {
    /// A period outside the range TA-Lib accepts for that parameter.
    #[error("{name} must be between {min} and {max}, got {value}")]
    PeriodOutOfRange {
        /// Parameter name, e.g. `period` or `slow_period`.
        name: &'static str,
        /// The value given.
        value: usize,
        /// Smallest accepted value.
        min: usize,
        /// Largest accepted value.
        max: usize,
    },
    /// A real-valued parameter (a band width) that is NaN or infinite.
    #[error("{name} must be a finite number, got {value}")]
    NotFinite {
        /// Parameter name, e.g. `nbdev_up`.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// Input columns of one bar series with different lengths.
    #[error("input columns differ in length: {name} has {len} values, expected {expected}")]
    LengthMismatch {
        /// The column whose length differs from the first one.
        name: &'static str,
        /// Its length.
        len: usize,
        /// The length of the first column.
        expected: usize,
    },
}
