//! [`Bars`]: a borrowed OHLCV series, the input of the signal rules.

use crate::IndicatorError;

/// Open, high, low, close and volume columns of one symbol, oldest bar first,
/// all of the same length.
#[derive(Debug, Clone, Copy)]
pub struct Bars<'a> {
    open: &'a [f64],
    high: &'a [f64],
    low: &'a [f64],
    close: &'a [f64],
    volume: &'a [f64],
}

impl<'a> Bars<'a> {
    /// Borrows five columns of equal length.
    ///
    /// # Errors
    /// [`IndicatorError::LengthMismatch`] naming the first column whose length
    /// differs from `open`'s.
    pub fn new(
        open: &'a [f64],
        high: &'a [f64],
        low: &'a [f64],
        close: &'a [f64],
        volume: &'a [f64],
    ) -> Result<Self, IndicatorError> {
        let expected = open.len();
        for (name, column) in [
            ("high", high),
            ("low", low),
            ("close", close),
            ("volume", volume),
        ] {
            if column.len() != expected {
                return Err(IndicatorError::LengthMismatch {
                    name,
                    len: column.len(),
                    expected,
                });
            }
        }
        Ok(Self {
            open,
            high,
            low,
            close,
            volume,
        })
    }

    /// Number of bars.
    #[must_use]
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// True when there is no bar.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }

    /// Opening prices.
    #[must_use]
    pub fn open(&self) -> &'a [f64] {
        self.open
    }

    /// Highs.
    #[must_use]
    pub fn high(&self) -> &'a [f64] {
        self.high
    }

    /// Lows.
    #[must_use]
    pub fn low(&self) -> &'a [f64] {
        self.low
    }

    /// Closing prices.
    #[must_use]
    pub fn close(&self) -> &'a [f64] {
        self.close
    }

    /// Volumes.
    #[must_use]
    pub fn volume(&self) -> &'a [f64] {
        self.volume
    }

    /// The bars `range` (e.g. one window of a longer history); `None` when the
    /// range is out of bounds.
    #[must_use]
    pub fn slice(&self, range: std::ops::Range<usize>) -> Option<Bars<'a>> {
        Some(Self {
            open: self.open.get(range.clone())?,
            high: self.high.get(range.clone())?,
            low: self.low.get(range.clone())?,
            close: self.close.get(range.clone())?,
            volume: self.volume.get(range)?,
        })
    }
}

/// Owned OHLCV columns, as read from a CSV file by
/// [`parse_bars_csv`](crate::parse_bars_csv).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ohlcv {
    /// Opening prices.
    pub open: Vec<f64>,
    /// Highs.
    pub high: Vec<f64>,
    /// Lows.
    pub low: Vec<f64>,
    /// Closing prices.
    pub close: Vec<f64>,
    /// Volumes.
    pub volume: Vec<f64>,
}

impl Ohlcv {
    /// Number of bars (the length of `close`).
    #[must_use]
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// True when there is no bar.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }

    /// Borrows the columns as [`Bars`].
    ///
    /// # Errors
    /// [`IndicatorError::LengthMismatch`] when the public fields were filled
    /// with columns of different lengths.
    pub fn bars(&self) -> Result<Bars<'_>, IndicatorError> {
        Bars::new(&self.open, &self.high, &self.low, &self.close, &self.volume)
    }
}
