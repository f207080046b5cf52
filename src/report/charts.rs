//! The inline SVG charts of the HTML report: the bootstrap as a timeline (phases one after
//! another, then each component from when it started waiting to when it was ready) and a
//! horizontal bar chart of measured figures (the latency percentiles). Plain SVG shapes styled
//! by the page's CSS classes, with a `<title>` on each shape for the exact numbers on hover;
//! every text is escaped by maud.

use maud::{html, Markup};

use super::bootstrap::Bootstrap;
use super::trim_float;

/// Width of the label column, in SVG units.
const LABEL_WIDTH: f64 = 190.0;
/// Width of the plotting area.
const PLOT_WIDTH: f64 = 620.0;
/// Width of the value column after the bars.
const VALUE_WIDTH: f64 = 90.0;
const ROW_HEIGHT: f64 = 22.0;
const BAR_HEIGHT: f64 = 14.0;
/// Room for the axis under the rows.
const AXIS_HEIGHT: f64 = 26.0;

/// One row of a chart: a labelled bar from `start` to `start + length` (in the chart's unit).
struct Bar {
    label: String,
    start: f64,
    /// None draws no bar (a component that never started).
    length: Option<f64>,
    /// The CSS class giving the bar its colour: the outcome (`ok`, `failed`, `skipped`, ...).
    class: String,
    /// The text after the bar.
    value: String,
    /// The hover text.
    tooltip: String,
}

fn x(value: f64, scale: f64) -> String {
    format!("{:.1}", LABEL_WIDTH + value * scale)
}

/// Tick values for an axis from 0 to `max`: about five, at round steps.
fn ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0];
    }
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    (0..)
        .map(|i| i as f64 * step)
        .take_while(|t| *t <= max + step * 1e-9)
        .collect()
}

/// The rows drawn against a shared axis running from 0 to the furthest bar end.
fn chart(class: &str, title: &str, unit: &str, bars: &[Bar]) -> Markup {
    let max = bars
        .iter()
        .map(|b| b.start + b.length.unwrap_or(0.0))
        .fold(0.0, f64::max);
    let scale = if max > 0.0 { PLOT_WIDTH / max } else { 0.0 };
    let rows_height = bars.len() as f64 * ROW_HEIGHT;
    let width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH;
    let height = rows_height + AXIS_HEIGHT;
    html! {
        svg class=(format!("chart {class}")) role="img" viewBox=(format!("0 0 {width} {height}"))
            width=(width) height=(height) {
            title { (title) }
            @for (i, bar) in bars.iter().enumerate() {
                @let y = i as f64 * ROW_HEIGHT;
                g class=(format!("row {}", bar.class)) {
                    title { (bar.tooltip) }
                    text class="label" x=(LABEL_WIDTH - 8.0) y=(format!("{:.1}", y + 15.0))
                        text-anchor="end" { (bar.label) }
                    @if let Some(length) = bar.length {
                        @let end = bar.start + length;
                        // A bar never vanishes: the shortest still shows as a sliver.
                        rect class="bar" x=(x(bar.start, scale))
                            y=(format!("{:.1}", y + (ROW_HEIGHT - BAR_HEIGHT) / 2.0))
                            width=(format!("{:.1}", (length * scale).max(2.0)))
                            height=(BAR_HEIGHT) rx="2" {}
                        text class="value" x=(format!("{:.1}", LABEL_WIDTH + end * scale + 6.0))
                            y=(format!("{:.1}", y + 15.0)) { (bar.value) }
                    } @else {
                        text class="value" x=(x(bar.start, scale)) y=(format!("{:.1}", y + 15.0)) {
                            (bar.value)
                        }
                    }
                }
            }
            g class="axis" {
                line x1=(LABEL_WIDTH) x2=(LABEL_WIDTH + PLOT_WIDTH) y1=(rows_height)
                    y2=(rows_height) {}
                @for tick in ticks(max) {
                    text x=(x(tick, scale)) y=(format!("{:.1}", rows_height + 16.0))
                        text-anchor="middle" { (trim_float(tick)) (unit) }
                }
            }
        }
    }
}

/// The bootstrap as a timeline in seconds since `up` started.
pub fn timeline(bootstrap: &Bootstrap) -> Markup {
    let mut bars = Vec::new();
    let mut start = 0.0;
    for phase in &bootstrap.phases {
        bars.push(Bar {
            label: phase.phase.clone(),
            start,
            length: Some(phase.seconds),
            class: format!("phase {}", phase.outcome),
            value: format!("{}s {}", trim_float(phase.seconds), phase.outcome),
            tooltip: format!(
                "phase {}: {} after {}s, took {}s{}",
                phase.phase,
                phase.outcome,
                trim_float(start),
                trim_float(phase.seconds),
                if phase.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", phase.detail)
                }
            ),
        });
        start += phase.seconds;
    }
    let offset = bootstrap.components_offset();
    for component in &bootstrap.components {
        let began = offset + component.started_after_seconds.unwrap_or(0.0);
        let length = component.started_after_seconds.and(component.seconds);
        bars.push(Bar {
            label: component.name.clone(),
            start: began,
            length,
            class: format!("component {}", component.outcome),
            value: match length {
                Some(took) => format!("{}s {}", trim_float(took), component.outcome),
                None => component.outcome.clone(),
            },
            tooltip: format!(
                "{} {}: {}{}",
                component.name,
                component.version,
                component.outcome,
                component
                    .error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
        });
    }
    chart(
        "timeline",
        "The bootstrap: phases, then components, in seconds since up started",
        "s",
        &bars,
    )
}

/// A bar per figure, from zero, in `unit`.
pub fn figure_bars(title: &str, unit: &str, figures: &[(&str, f64)]) -> Markup {
    let bars: Vec<Bar> = figures
        .iter()
        .map(|(name, value)| Bar {
            label: name.to_string(),
            start: 0.0,
            length: Some(*value),
            class: "figure".into(),
            value: format!("{}{unit}", trim_float(*value)),
            tooltip: format!("{name}: {}{unit}", trim_float(*value)),
        })
        .collect();
    chart("figures", title, unit, &bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_steps_up_to_the_maximum() {
        assert_eq!(ticks(95.5), vec![0.0, 20.0, 40.0, 60.0, 80.0]);
        let unit = ticks(1.0);
        assert_eq!((unit.len(), unit[1], unit[5]), (6, 0.2, 1.0));
        assert_eq!(ticks(0.0), vec![0.0]);
        assert_eq!(ticks(f64::NAN), vec![0.0]);
    }

    #[test]
    fn the_timeline_places_components_after_the_phases_before_the_dag() {
        let svg = timeline(&super::super::bootstrap::fixtures::bootstrap()).into_string();
        // 31.25s of phases before the DAG, over a chart of 95.5s (kyverno ends at 95.5).
        let scale = PLOT_WIDTH / 95.5;
        let kyverno_x = format!("x=\"{:.1}\"", LABEL_WIDTH + (31.25 + 20.5) * scale);
        assert!(svg.contains(&kyverno_x), "{kyverno_x} in {svg}");
        assert!(svg.contains("class=\"row component blocked\""), "{svg}");
        assert!(
            svg.contains("&lt;none&gt;"),
            "the error text is escaped: {svg}"
        );
        assert!(!svg.contains("<none>"), "{svg}");
    }

    #[test]
    fn figure_bars_scale_to_the_largest() {
        let svg = figure_bars("latency", "ms", &[("p50", 10.0), ("max", 40.0)]).into_string();
        assert!(
            svg.contains(&format!("width=\"{:.1}\"", PLOT_WIDTH)),
            "{svg}"
        );
        assert!(
            svg.contains(&format!("width=\"{:.1}\"", PLOT_WIDTH / 4.0)),
            "{svg}"
        );
        assert!(svg.contains(">40ms<"), "{svg}");
    }
}
