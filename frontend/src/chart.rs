//! Charts: TradingView's lightweight-charts (Apache-2.0), which the build
//! vendors into the dist (frontend/post-build.py) and index.html loads
//! before the app as `window.LightweightCharts`.
//!
//! Bound through `js_sys::Reflect` rather than `extern` blocks: the crate
//! forbids unsafe code, and the library is called in only a few places.
//! Options and data cross as JSON (one `JSON.parse` per series), which is
//! also the fastest way to hand over a thousand bars.
//!
//! The attribution logo stays on (`layout.attributionLogo`), as the
//! library's licence asks; its LICENSE and NOTICE ship in the dist.

use std::rc::Rc;

use js_sys::{Array, Function, Reflect};
use leptos::html::Div;
use leptos::prelude::*;
use serde::Serialize;
use trader_api_types::broker::PortfolioHistory;
use trader_api_types::signals::ChartData;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use crate::components::when;

type JsResult<T> = Result<T, JsValue>;

fn get(obj: &JsValue, key: &str) -> JsResult<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key))
}

fn call(obj: &JsValue, method: &str, args: &[&JsValue]) -> JsResult<JsValue> {
    let f: Function = get(obj, method)?.dyn_into()?;
    let list = Array::new();
    for a in args {
        list.push(a);
    }
    f.apply(obj, &list)
}

fn parse(json: &str) -> JsResult<JsValue> {
    js_sys::JSON::parse(json)
}

fn to_js(value: &impl Serialize) -> JsResult<JsValue> {
    parse(&serde_json::to_string(value).map_err(|e| JsValue::from_str(&e.to_string()))?)
}

/// `window.LightweightCharts`, when the library loaded.
fn library() -> Option<JsValue> {
    let lib = get(&js_sys::global(), "LightweightCharts").ok()?;
    (!lib.is_undefined()).then_some(lib)
}

/// The app's dark theme for every chart.
const THEME: &str = r##"{"autoSize":true,
"layout":{"background":{"type":"solid","color":"#171e26"},"textColor":"#c9d4df","attributionLogo":true,
  "panes":{"separatorColor":"#2e3a47","separatorHoverColor":"#3a4757"}},
"grid":{"vertLines":{"color":"#1f2833"},"horzLines":{"color":"#1f2833"}},
"rightPriceScale":{"borderColor":"#2e3a47"},
"timeScale":{"borderColor":"#2e3a47","timeVisible":true,"secondsVisible":false},
"crosshair":{"mode":0}}"##;

/// One chart on the page; removed with [`Chart::remove`].
#[derive(Clone)]
struct Chart {
    lib: JsValue,
    chart: JsValue,
}

impl Chart {
    fn new(container: &web_sys::HtmlElement) -> JsResult<Self> {
        let lib = library().ok_or_else(|| JsValue::from_str("the chart library did not load"))?;
        let chart = call(&lib, "createChart", &[container.as_ref(), &parse(THEME)?])?;
        Ok(Self { lib, chart })
    }

    /// Adds a series (`CandlestickSeries`, `LineSeries`, `HistogramSeries`,
    /// `AreaSeries`) to pane `pane` with `data` (JSON-serialisable).
    fn series(
        &self,
        kind: &str,
        options: &str,
        pane: u32,
        data: &impl Serialize,
    ) -> JsResult<JsValue> {
        let def = get(&self.lib, kind)?;
        let series = call(
            &self.chart,
            "addSeries",
            &[&def, &parse(options)?, &JsValue::from(pane)],
        )?;
        call(&series, "setData", &[&to_js(data)?])?;
        Ok(series)
    }

    fn time_scale(&self) -> JsResult<JsValue> {
        call(&self.chart, "timeScale", &[])
    }

    fn fit(&self) {
        if let Ok(ts) = self.time_scale() {
            let _ = call(&ts, "fitContent", &[]);
        }
    }

    /// Zooms about the middle (`factor` < 1 zooms in) and pans (`shift`,
    /// a fraction of the visible width).
    fn zoom_pan(&self, factor: f64, shift: f64) {
        let Ok(ts) = self.time_scale() else { return };
        let Ok(range) = call(&ts, "getVisibleLogicalRange", &[]) else {
            return;
        };
        let num = |k| get(&range, k).ok().and_then(|v| v.as_f64());
        let (Some(from), Some(to)) = (num("from"), num("to")) else {
            return;
        };
        let half = (to - from) / 2.0 * factor;
        let mid = (from + to) / 2.0 + (to - from) * shift;
        if let Ok(r) = parse(&format!(
            r#"{{"from":{},"to":{}}}"#,
            mid - half.max(2.0),
            mid + half.max(2.0)
        )) {
            let _ = call(&ts, "setVisibleLogicalRange", &[&r]);
        }
    }

    /// Gives pane `index` a height in pixels.
    fn pane_height(&self, index: u32, px: u32) {
        if let Ok(panes) = call(&self.chart, "panes", &[])
            && let Ok(pane) = Reflect::get_u32(&panes, index)
            && !pane.is_undefined()
        {
            let _ = call(&pane, "setHeight", &[&JsValue::from(px)]);
        }
    }

    fn remove(&self) {
        let _ = call(&self.chart, "remove", &[]);
    }
}

#[derive(Serialize)]
struct Candle {
    time: i64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
}

/// A line point; no `value` is a gap (warm-up).
#[derive(Serialize)]
struct Point {
    time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    color: Option<&'static str>,
}

#[derive(Serialize)]
struct Marker {
    time: i64,
    position: &'static str,
    color: &'static str,
    shape: &'static str,
    text: String,
}

const UP: &str = "#5fd38d";
const DOWN: &str = "#ff7b72";

fn line(times: &[i64], values: &[Option<f64>]) -> Vec<Point> {
    times
        .iter()
        .zip(values.iter().chain(std::iter::repeat(&None)))
        .map(|(t, v)| Point {
            time: *t,
            value: v.filter(|v| v.is_finite()),
            color: None,
        })
        .collect()
}

/// Draws the whole price chart into `container`.
fn draw_price(container: &web_sys::HtmlElement, data: &ChartData) -> JsResult<Chart> {
    let chart = Chart::new(container)?;
    let times: Vec<i64> = data.bars.iter().map(|b| b.t.timestamp()).collect();
    let candles: Vec<Candle> = data
        .bars
        .iter()
        .map(|b| Candle {
            time: b.t.timestamp(),
            open: b.o,
            high: b.h,
            low: b.l,
            close: b.c,
        })
        .collect();
    let price = chart.series(
        "CandlestickSeries",
        r##"{"upColor":"#5fd38d","downColor":"#ff7b72","borderVisible":false,"wickUpColor":"#5fd38d","wickDownColor":"#ff7b72"}"##,
        0,
        &candles,
    )?;
    let thin = |color: &str, dashed: bool| {
        format!(
            r#"{{"color":"{color}","lineWidth":1,"lineStyle":{},"priceLineVisible":false,"lastValueVisible":false,"crosshairMarkerVisible":false}}"#,
            if dashed { 2 } else { 0 }
        )
    };
    chart.series(
        "LineSeries",
        &thin("#f2c14e", false),
        0,
        &line(&times, &data.sma_short),
    )?;
    chart.series(
        "LineSeries",
        &thin("#c792ea", false),
        0,
        &line(&times, &data.sma_long),
    )?;
    chart.series(
        "LineSeries",
        &thin("#5eb1ff", true),
        0,
        &line(&times, &data.bb_upper),
    )?;
    chart.series(
        "LineSeries",
        &thin("#5eb1ff", false),
        0,
        &line(&times, &data.bb_middle),
    )?;
    chart.series(
        "LineSeries",
        &thin("#5eb1ff", true),
        0,
        &line(&times, &data.bb_lower),
    )?;
    let rsi = chart.series(
        "LineSeries",
        &thin("#f2c14e", false),
        1,
        &line(&times, &data.rsi),
    )?;
    for level in [70, 30] {
        let _ = call(
            &rsi,
            "createPriceLine",
            &[&parse(&format!(
                r##"{{"price":{level},"color":"#6b7a8a","lineWidth":1,"lineStyle":2,"axisLabelVisible":true,"title":""}}"##
            ))?],
        );
    }
    let hist: Vec<Point> = times
        .iter()
        .zip(data.macd_hist.iter().chain(std::iter::repeat(&None)))
        .map(|(t, v)| Point {
            time: *t,
            value: v.filter(|v| v.is_finite()),
            color: v.map(|v| if v >= 0.0 { "#2f7d52" } else { "#a8463f" }),
        })
        .collect();
    chart.series(
        "HistogramSeries",
        r#"{"priceLineVisible":false,"lastValueVisible":false}"#,
        2,
        &hist,
    )?;
    chart.series(
        "LineSeries",
        &thin("#5eb1ff", false),
        2,
        &line(&times, &data.macd),
    )?;
    chart.series(
        "LineSeries",
        &thin("#ff9e64", false),
        2,
        &line(&times, &data.macd_signal),
    )?;
    let markers: Vec<Marker> = data
        .markers
        .iter()
        .map(|m| {
            let buy = m.action == "buy";
            Marker {
                time: m.t.timestamp(),
                position: if buy { "belowBar" } else { "aboveBar" },
                color: if buy { UP } else { DOWN },
                shape: if buy { "arrowUp" } else { "arrowDown" },
                text: if buy {
                    "BUY".to_owned()
                } else {
                    "SELL".to_owned()
                },
            }
        })
        .collect();
    call(
        &chart.lib,
        "createSeriesMarkers",
        &[&price, &to_js(&markers)?],
    )?;
    chart.pane_height(1, 110);
    chart.pane_height(2, 130);
    chart.fit();
    Ok(chart)
}

/// The bar under the crosshair: its index in `times`.
fn index_at(times: &[i64], param: &JsValue) -> Option<usize> {
    let t = get(param, "time").ok()?.as_f64()? as i64;
    times.binary_search(&t).ok()
}

fn fmt(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

/// Candlesticks with the SMA pair and Bollinger Bands, RSI and MACD panes,
/// BUY/SELL markers, a crosshair legend with every value, zoom and pan
/// (mouse, touch, and the buttons for keyboards).
#[component]
pub(crate) fn PriceChart(data: ChartData) -> impl IntoView {
    let node = NodeRef::<Div>::new();
    let failed = RwSignal::new(None::<String>);
    let times: Rc<Vec<i64>> = Rc::new(data.bars.iter().map(|b| b.t.timestamp()).collect());
    let last = data.bars.len().checked_sub(1);
    let at = RwSignal::new(last);
    let data = StoredValue::new_local(data);
    let chart = StoredValue::new_local(None::<Chart>);
    let handler = StoredValue::new_local(None::<Closure<dyn FnMut(JsValue)>>);
    {
        Effect::new(move |_| {
            let Some(el) = node.get() else { return };
            if chart.with_value(Option::is_some) {
                return;
            }
            let drawn = data.with_value(|d| draw_price(&el, d));
            match drawn {
                Ok(c) => {
                    let times = times.clone();
                    let cb = Closure::<dyn FnMut(JsValue)>::new(move |param: JsValue| {
                        at.set(index_at(&times, &param).or(last));
                    });
                    let _ = call(&c.chart, "subscribeCrosshairMove", &[cb.as_ref()]);
                    handler.set_value(Some(cb));
                    chart.set_value(Some(c));
                }
                Err(e) => failed
                    .set(Some(e.as_string().unwrap_or_else(|| {
                        "the chart could not be drawn".to_owned()
                    }))),
            }
        });
    }
    on_cleanup(move || {
        if let Some(c) = chart.try_update_value(Option::take).flatten() {
            c.remove();
        }
        // After the chart: it may call the handler until removed.
        handler.try_update_value(Option::take);
    });
    let act = move |factor: f64, shift: f64| {
        chart.with_value(|c| {
            if let Some(c) = c {
                if factor == 0.0 {
                    c.fit();
                } else {
                    c.zoom_pan(factor, shift);
                }
            }
        });
    };
    let legend = move || {
        let i = at.get()?;
        data.with_value(|d| {
            let v = |s: &Vec<Option<f64>>| fmt(s.get(i).copied().flatten());
            let b = d.bars.get(i)?;
            Some(view! {
                <span>{when(&b.t)}</span>
                <span>"O " {fmt(Some(b.o))}</span><span>"H " {fmt(Some(b.h))}</span>
                <span>"L " {fmt(Some(b.l))}</span><span>"C " {fmt(Some(b.c))}</span>
                <span class="k-sma-s">"SMA short " {v(&d.sma_short)}</span>
                <span class="k-sma-l">"SMA long " {v(&d.sma_long)}</span>
                <span class="k-bb">"BB " {v(&d.bb_lower)} " / " {v(&d.bb_middle)} " / " {v(&d.bb_upper)}</span>
                <span class="k-rsi">"RSI " {v(&d.rsi)}</span>
                <span class="k-macd">"MACD " {v(&d.macd)} " signal " {v(&d.macd_signal)} " hist " {v(&d.macd_hist)}</span>
            })
        })
    };
    view! {
        <div class="chart-tools row" role="toolbar" aria-label="Chart zoom and pan">
            <button type="button" class="secondary" on:click=move |_| act(0.6, 0.0)>"Zoom in"</button>
            <button type="button" class="secondary" on:click=move |_| act(1.6, 0.0)>"Zoom out"</button>
            <button type="button" class="secondary" on:click=move |_| act(1.0, -0.25)>"◀ Earlier"</button>
            <button type="button" class="secondary" on:click=move |_| act(1.0, 0.25)>"Later ▶"</button>
            <button type="button" class="secondary" on:click=move |_| act(0.0, 0.0)>"Fit"</button>
        </div>
        <p class="legend" data-testid="chart-legend" aria-live="off">{legend}</p>
        {move || failed.get().map(|e| view! { <p class="note error" role="alert">{e}</p> })}
        <div class="chart tall" node_ref=node data-testid="price-chart" role="figure"
            aria-label="Price chart: candlesticks with SMA and Bollinger Bands, RSI and MACD panes, buy and sell markers"></div>
        <p class="hint">
            "Panes: price with SMA (yellow short, purple long) and Bollinger Bands (blue); RSI (70/30 lines); MACD (blue), signal (orange), histogram. "
            "Drag to pan, scroll or pinch to zoom. "
            <a href="/lightweight-charts-NOTICE.txt">"Charts: TradingView Lightweight Charts™, © TradingView, Inc."</a>
        </p>
    }
}

/// The equity curve of a portfolio history.
#[component]
pub(crate) fn EquityChart(history: PortfolioHistory) -> impl IntoView {
    let node = NodeRef::<Div>::new();
    let failed = RwSignal::new(None::<String>);
    let chart = StoredValue::new_local(None::<Chart>);
    let history = StoredValue::new_local(history);
    Effect::new(move |_| {
        let Some(el) = node.get() else { return };
        if chart.with_value(Option::is_some) {
            return;
        }
        let drawn = history.with_value(|h| -> JsResult<Chart> {
            let c = Chart::new(&el)?;
            let points: Vec<Point> = h
                .timestamp
                .iter()
                .zip(h.equity.iter())
                .filter_map(|(t, v)| {
                    v.filter(|v| v.is_finite()).map(|v| Point {
                        time: *t,
                        value: Some(v),
                        color: None,
                    })
                })
                .collect();
            let rising = match (points.first(), points.last()) {
                (Some(a), Some(b)) => b.value >= a.value,
                _ => true,
            };
            let (line, top) = if rising { (UP, "rgba(95,211,141,0.35)") } else { (DOWN, "rgba(255,123,114,0.35)") };
            c.series(
                "AreaSeries",
                &format!(r#"{{"lineColor":"{line}","topColor":"{top}","bottomColor":"rgba(0,0,0,0)","lineWidth":2}}"#),
                0,
                &points,
            )?;
            c.fit();
            Ok(c)
        });
        match drawn {
            Ok(c) => chart.set_value(Some(c)),
            Err(e) => failed
                .set(Some(e.as_string().unwrap_or_else(|| {
                    "the chart could not be drawn".to_owned()
                }))),
        }
    });
    on_cleanup(move || {
        if let Some(c) = chart.try_update_value(Option::take).flatten() {
            c.remove();
        }
    });
    view! {
        {move || failed.get().map(|e| view! { <p class="note error" role="alert">{e}</p> })}
        <div class="chart" node_ref=node data-testid="equity-chart" role="figure" aria-label="Equity curve"></div>
    }
}
