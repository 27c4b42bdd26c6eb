//! The built-in asset list: large US companies and ETFs with their names
//! and listing exchanges (the Python version's watchlist among them). More
//! are added through the control API.

use uuid::Uuid;

/// One tradable asset (`GET /v2/assets`, ALPACA-API.md 2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Stable id derived from the symbol.
    pub id: Uuid,
    /// Ticker, e.g. `AAPL`.
    pub symbol: String,
    /// Company or fund name.
    pub name: String,
    /// Listing exchange: `NASDAQ`, `NYSE`, `ARCA`, `AMEX`, `BATS`, `NYSEARCA`, `OTC`.
    pub exchange: String,
    /// `active` or `inactive`.
    pub active: bool,
    /// Whether orders are accepted.
    pub tradable: bool,
    /// Whether it counts for margin.
    pub marginable: bool,
    /// Whether it can be sold short.
    pub shortable: bool,
    /// Whether it is easy to borrow.
    pub easy_to_borrow: bool,
    /// Whether fractional quantities are allowed.
    pub fractionable: bool,
}

impl Asset {
    /// A tradable, marginable, shortable, fractionable asset.
    pub fn new(symbol: &str, name: &str, exchange: &str) -> Asset {
        Asset {
            id: asset_id(symbol),
            symbol: symbol.to_string(),
            name: name.to_string(),
            exchange: exchange.to_string(),
            active: true,
            tradable: true,
            marginable: true,
            shortable: true,
            easy_to_borrow: true,
            fractionable: true,
        }
    }
}

/// A stable UUID (version 4 layout) for a symbol, the same on every run.
pub fn asset_id(symbol: &str) -> Uuid {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in symbol.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    let hi = splitmix(h ^ 0xA55E_7000);
    let lo = splitmix(hi ^ h);
    uuid::Builder::from_random_bytes(((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes())
        .into_uuid()
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `(symbol, name, exchange)` of the built-in assets.
const BUILT_IN: &[(&str, &str, &str)] = &[
    ("AAPL", "Apple Inc. Common Stock", "NASDAQ"),
    ("MSFT", "Microsoft Corporation Common Stock", "NASDAQ"),
    ("GOOGL", "Alphabet Inc. Class A Common Stock", "NASDAQ"),
    ("GOOG", "Alphabet Inc. Class C Capital Stock", "NASDAQ"),
    ("AMZN", "Amazon.com, Inc. Common Stock", "NASDAQ"),
    ("TSLA", "Tesla, Inc. Common Stock", "NASDAQ"),
    ("NVDA", "NVIDIA Corporation Common Stock", "NASDAQ"),
    (
        "META",
        "Meta Platforms, Inc. Class A Common Stock",
        "NASDAQ",
    ),
    (
        "PLTR",
        "Palantir Technologies Inc. Class A Common Stock",
        "NASDAQ",
    ),
    ("CRWV", "CoreWeave, Inc. Class A Common Stock", "NASDAQ"),
    ("AVGO", "Broadcom Inc. Common Stock", "NASDAQ"),
    (
        "COST",
        "Costco Wholesale Corporation Common Stock",
        "NASDAQ",
    ),
    ("NFLX", "Netflix, Inc. Common Stock", "NASDAQ"),
    ("AMD", "Advanced Micro Devices, Inc. Common Stock", "NASDAQ"),
    ("ADBE", "Adobe Inc. Common Stock", "NASDAQ"),
    ("PEP", "PepsiCo, Inc. Common Stock", "NASDAQ"),
    ("CSCO", "Cisco Systems, Inc. Common Stock", "NASDAQ"),
    ("INTC", "Intel Corporation Common Stock", "NASDAQ"),
    (
        "CMCSA",
        "Comcast Corporation Class A Common Stock",
        "NASDAQ",
    ),
    ("TMUS", "T-Mobile US, Inc. Common Stock", "NASDAQ"),
    ("QCOM", "QUALCOMM Incorporated Common Stock", "NASDAQ"),
    (
        "TXN",
        "Texas Instruments Incorporated Common Stock",
        "NASDAQ",
    ),
    ("AMGN", "Amgen Inc. Common Stock", "NASDAQ"),
    ("INTU", "Intuit Inc. Common Stock", "NASDAQ"),
    ("ISRG", "Intuitive Surgical, Inc. Common Stock", "NASDAQ"),
    ("HON", "Honeywell International Inc. Common Stock", "NASDAQ"),
    ("BKNG", "Booking Holdings Inc. Common Stock", "NASDAQ"),
    ("SBUX", "Starbucks Corporation Common Stock", "NASDAQ"),
    ("GILD", "Gilead Sciences, Inc. Common Stock", "NASDAQ"),
    (
        "MDLZ",
        "Mondelez International, Inc. Class A Common Stock",
        "NASDAQ",
    ),
    (
        "ADP",
        "Automatic Data Processing, Inc. Common Stock",
        "NASDAQ",
    ),
    (
        "REGN",
        "Regeneron Pharmaceuticals, Inc. Common Stock",
        "NASDAQ",
    ),
    (
        "VRTX",
        "Vertex Pharmaceuticals Incorporated Common Stock",
        "NASDAQ",
    ),
    ("ADI", "Analog Devices, Inc. Common Stock", "NASDAQ"),
    ("LRCX", "Lam Research Corporation Common Stock", "NASDAQ"),
    ("MU", "Micron Technology, Inc. Common Stock", "NASDAQ"),
    ("AMAT", "Applied Materials, Inc. Common Stock", "NASDAQ"),
    ("PANW", "Palo Alto Networks, Inc. Common Stock", "NASDAQ"),
    ("KLAC", "KLA Corporation Common Stock", "NASDAQ"),
    ("SNPS", "Synopsys, Inc. Common Stock", "NASDAQ"),
    (
        "CDNS",
        "Cadence Design Systems, Inc. Common Stock",
        "NASDAQ",
    ),
    ("MRVL", "Marvell Technology, Inc. Common Stock", "NASDAQ"),
    ("PYPL", "PayPal Holdings, Inc. Common Stock", "NASDAQ"),
    ("ABNB", "Airbnb, Inc. Class A Common Stock", "NASDAQ"),
    (
        "CRWD",
        "CrowdStrike Holdings, Inc. Class A Common Stock",
        "NASDAQ",
    ),
    ("MELI", "MercadoLibre, Inc. Common Stock", "NASDAQ"),
    ("ORLY", "O'Reilly Automotive, Inc. Common Stock", "NASDAQ"),
    ("CTAS", "Cintas Corporation Common Stock", "NASDAQ"),
    (
        "MAR",
        "Marriott International, Inc. Class A Common Stock",
        "NASDAQ",
    ),
    ("FTNT", "Fortinet, Inc. Common Stock", "NASDAQ"),
    (
        "ASML",
        "ASML Holding N.V. New York Registry Shares",
        "NASDAQ",
    ),
    (
        "PDD",
        "PDD Holdings Inc. American Depositary Shares",
        "NASDAQ",
    ),
    ("LIN", "Linde plc Ordinary Shares", "NASDAQ"),
    ("QQQ", "Invesco QQQ Trust, Series 1", "NASDAQ"),
    ("TLT", "iShares 20+ Year Treasury Bond ETF", "NASDAQ"),
    ("SMH", "VanEck Semiconductor ETF", "NASDAQ"),
    ("SOXX", "iShares Semiconductor ETF", "NASDAQ"),
    ("JPM", "JPMorgan Chase & Co. Common Stock", "NYSE"),
    ("V", "Visa Inc.", "NYSE"),
    ("MA", "Mastercard Incorporated Common Stock", "NYSE"),
    (
        "UNH",
        "UnitedHealth Group Incorporated Common Stock",
        "NYSE",
    ),
    ("JNJ", "Johnson & Johnson Common Stock", "NYSE"),
    ("WMT", "Walmart Inc. Common Stock", "NYSE"),
    ("PG", "Procter & Gamble Company (The) Common Stock", "NYSE"),
    ("XOM", "Exxon Mobil Corporation Common Stock", "NYSE"),
    ("CVX", "Chevron Corporation Common Stock", "NYSE"),
    ("HD", "Home Depot, Inc. (The) Common Stock", "NYSE"),
    ("KO", "Coca-Cola Company (The) Common Stock", "NYSE"),
    ("MRK", "Merck & Company, Inc. Common Stock", "NYSE"),
    ("ABBV", "AbbVie Inc. Common Stock", "NYSE"),
    ("LLY", "Eli Lilly and Company Common Stock", "NYSE"),
    ("BAC", "Bank of America Corporation Common Stock", "NYSE"),
    ("PFE", "Pfizer, Inc. Common Stock", "NYSE"),
    ("TMO", "Thermo Fisher Scientific Inc Common Stock", "NYSE"),
    ("ABT", "Abbott Laboratories Common Stock", "NYSE"),
    ("DIS", "Walt Disney Company (The) Common Stock", "NYSE"),
    ("MCD", "McDonald's Corporation Common Stock", "NYSE"),
    ("CRM", "Salesforce, Inc. Common Stock", "NYSE"),
    ("ACN", "Accenture plc Class A Ordinary Shares", "NYSE"),
    ("NKE", "Nike, Inc. Common Stock", "NYSE"),
    ("ORCL", "Oracle Corporation Common Stock", "NYSE"),
    ("WFC", "Wells Fargo & Company Common Stock", "NYSE"),
    ("DHR", "Danaher Corporation Common Stock", "NYSE"),
    ("PM", "Philip Morris International Inc Common Stock", "NYSE"),
    ("NEE", "NextEra Energy, Inc. Common Stock", "NYSE"),
    ("UNP", "Union Pacific Corporation Common Stock", "NYSE"),
    ("RTX", "RTX Corporation Common Stock", "NYSE"),
    ("LOW", "Lowe's Companies, Inc. Common Stock", "NYSE"),
    (
        "IBM",
        "International Business Machines Corporation Common Stock",
        "NYSE",
    ),
    ("CAT", "Caterpillar, Inc. Common Stock", "NYSE"),
    ("GS", "Goldman Sachs Group, Inc. (The) Common Stock", "NYSE"),
    ("MS", "Morgan Stanley Common Stock", "NYSE"),
    ("BA", "Boeing Company (The) Common Stock", "NYSE"),
    ("GE", "GE Aerospace Common Stock", "NYSE"),
    ("SPGI", "S&P Global Inc. Common Stock", "NYSE"),
    ("BLK", "BlackRock, Inc. Common Stock", "NYSE"),
    ("T", "AT&T Inc.", "NYSE"),
    ("VZ", "Verizon Communications Inc. Common Stock", "NYSE"),
    (
        "UPS",
        "United Parcel Service, Inc. Class B Common Stock",
        "NYSE",
    ),
    ("DE", "Deere & Company Common Stock", "NYSE"),
    ("AXP", "American Express Company Common Stock", "NYSE"),
    ("C", "Citigroup, Inc. Common Stock", "NYSE"),
    (
        "SCHW",
        "Charles Schwab Corporation (The) Common Stock",
        "NYSE",
    ),
    ("MMM", "3M Company Common Stock", "NYSE"),
    (
        "BRK.B",
        "Berkshire Hathaway Inc. Class B Common Stock",
        "NYSE",
    ),
    ("UBER", "Uber Technologies, Inc. Common Stock", "NYSE"),
    ("SNOW", "Snowflake Inc. Common Stock", "NYSE"),
    ("NOW", "ServiceNow, Inc. Common Stock", "NYSE"),
    ("SPY", "SPDR S&P 500 ETF Trust", "ARCA"),
    ("IWM", "iShares Russell 2000 ETF", "ARCA"),
    ("DIA", "SPDR Dow Jones Industrial Average ETF Trust", "ARCA"),
    ("VTI", "Vanguard Total Stock Market ETF", "ARCA"),
    ("VOO", "Vanguard S&P 500 ETF", "ARCA"),
    ("IVV", "iShares Core S&P 500 ETF", "ARCA"),
    ("EFA", "iShares MSCI EAFE ETF", "ARCA"),
    ("EEM", "iShares MSCI Emerging Markets ETF", "ARCA"),
    ("GLD", "SPDR Gold Shares", "ARCA"),
    ("SLV", "iShares Silver Trust", "ARCA"),
    ("AGG", "iShares Core U.S. Aggregate Bond ETF", "ARCA"),
    (
        "LQD",
        "iShares iBoxx $ Investment Grade Corporate Bond ETF",
        "ARCA",
    ),
    (
        "HYG",
        "iShares iBoxx $ High Yield Corporate Bond ETF",
        "ARCA",
    ),
    ("XLF", "Financial Select Sector SPDR Fund", "ARCA"),
    ("XLK", "Technology Select Sector SPDR Fund", "ARCA"),
    ("XLE", "Energy Select Sector SPDR Fund", "ARCA"),
    ("XLV", "Health Care Select Sector SPDR Fund", "ARCA"),
    (
        "XLY",
        "Consumer Discretionary Select Sector SPDR Fund",
        "ARCA",
    ),
    ("XLP", "Consumer Staples Select Sector SPDR Fund", "ARCA"),
    ("XLI", "Industrial Select Sector SPDR Fund", "ARCA"),
    ("XLU", "Utilities Select Sector SPDR Fund", "ARCA"),
    ("VNQ", "Vanguard Real Estate ETF", "ARCA"),
    ("VEA", "Vanguard FTSE Developed Markets ETF", "ARCA"),
    ("VWO", "Vanguard FTSE Emerging Markets ETF", "ARCA"),
    ("ARKK", "ARK Innovation ETF", "ARCA"),
    ("USO", "United States Oil Fund, LP", "ARCA"),
];

/// The built-in assets, in symbol order.
pub fn built_in() -> Vec<Asset> {
    let mut v: Vec<Asset> = BUILT_IN
        .iter()
        .map(|(s, n, e)| Asset::new(s, n, e))
        .collect();
    v.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_100_unique_assets_with_the_legacy_watchlist() {
        let all = built_in();
        assert!(all.len() >= 100);
        let mut symbols: Vec<&str> = all.iter().map(|a| a.symbol.as_str()).collect();
        symbols.dedup();
        assert_eq!(symbols.len(), all.len(), "no duplicates");
        for s in [
            "AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "PLTR", "CRWV",
        ] {
            assert!(symbols.contains(&s), "{s}");
        }
        let mut ids: Vec<Uuid> = all.iter().map(|a| a.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        assert_eq!(asset_id("AAPL"), asset_id("AAPL"));
        assert_eq!(asset_id("AAPL").get_version_num(), 4);
    }
}
