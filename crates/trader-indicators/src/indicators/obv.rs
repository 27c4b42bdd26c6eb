//! On-balance volume (TA-Lib `TA_OBV`).

use super::check_lengths;
use crate::{IndicatorError, Series};

/// On-balance volume: starts at the first bar's volume (TA-Lib's choice, not
/// 0), then adds the volume of each bar that closes higher than the bar
/// before and subtracts it for each bar that closes lower. No lookback.
///
/// # Errors
/// [`IndicatorError::LengthMismatch`] when the columns differ in length.
pub fn obv(close: &[f64], volume: &[f64]) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    obv_into(close, volume, &mut out)?;
    Ok(out)
}

/// [`obv`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`obv`].
pub fn obv_into(close: &[f64], volume: &[f64], out: &mut Series) -> Result<(), IndicatorError> {
    let n = check_lengths(&[("close", close), ("volume", volume)])?;
    let values = out.begin(n, 0);
    let (Some(&first_close), Some(&first_volume)) = (close.first(), volume.first()) else {
        return Ok(());
    };
    let mut prev_obv = first_volume;
    let mut prev_close = first_close;
    for ((value, &c), &v) in values.iter_mut().zip(close).zip(volume) {
        if c > prev_close {
            prev_obv += v;
        } else if c < prev_close {
            prev_obv -= v;
        }
        prev_close = c;
        *value = prev_obv;
    }
    Ok(())
}
