/**
 * met's figures: Vega-Lite specs built from report data (chartSpecs.ts), compiled and rendered
 * server-side by Vega and rasterised to PNG by resvg (chartRender.ts). Specs are plain data, so a
 * caller can also write them out as .vl.json for an interactive viewer.
 */
export * from './chartSpecs';
export * from './chartRender';
