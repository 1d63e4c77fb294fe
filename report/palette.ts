/**
 * met's figure colours, one place for the server-side figures (report/plots.ts) and the web
 * console's browser-drawn charts (api/console.ts hands them to the page). No dependencies.
 */

/** Tableau 10, Vega's default categorical scheme, with grey kept for reference-vs-reference series. */
export const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d'];
export const NULL_COLOR = '#6b6b6b';
export const ALPHA_COLOR = '#b2182b';
export const REJECT_COLOR = '#e45756';
export const ACCEPT_COLOR = '#4c78a8';
/** Axis and grid greys of the figures' Vega config. */
export const GRID_COLOR = '#e8e8e8';
export const DOMAIN_COLOR = '#888';
