"""The dashboard's one over-time chart (Altair): a panel per pack, language or task, each
series' value over time with its band, a trend line for long histories, a metric picker."""
from __future__ import annotations


def over_time(alt, color, name: str, metric, facets: int, window: int, y_title: str, tooltip: list):
    """Per facet (two panels a row): each run's value `v` as a line with its band `lo`–`hi`
    and, when `window` > 1, a thick trend line (mean of the last `window` runs); `metric` is
    the bound picker parameter the rows are filtered by; drag or scroll to pan and zoom time."""
    zoom = alt.selection_interval(bind="scales", encodings=["x"])
    dense = window > 1
    base = alt.Chart().transform_filter(alt.datum.metric == metric).encode(
        x=alt.X("t:T", title=None, axis=alt.Axis(labelOverlap=True, grid=False, tickCount=8)), color=color)
    band = base.transform_filter("isValid(datum.lo)").mark_area(
        opacity=0.10 if dense else 0.16, interpolate="monotone").encode(
        y=alt.Y("lo:Q", title=y_title, scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", tickCount=5)),
        y2="hi:Q")
    line = base.mark_line(strokeWidth=1 if dense else 1.8, opacity=0.45 if dense else 1,
                          interpolate="monotone").encode(y="v:Q")
    points = base.mark_circle(size=40 if dense else 22, opacity=0 if dense else 1).encode(
        y="v:Q", tooltip=tooltip).add_params(zoom)
    layers = [band, line, points]
    if dense:
        layers.append(base.transform_window(
            trend="mean(v)", frame=[-(window - 1), 0], groupby=["series", "facet"], sort=[alt.SortField("t")],
        ).mark_line(strokeWidth=2.6, interpolate="monotone").encode(y="trend:Q"))
    columns = 1 if facets == 1 else 2
    return alt.layer(*layers, data=alt.Data(name=name)).properties(
        width=1080 if columns == 1 else 510, height=200 if columns == 1 else 160).facet(
        facet=alt.Facet("facet:N", title=None, header=alt.Header(
            labelFontSize=13, labelFontWeight="bold", labelAnchor="start", labelColor="#222")),
        columns=columns, spacing={"row": 18, "column": 36},
    ).add_params(metric)
