export { parseSince, PrettyPrinter, type LineFilter, type PrettyOptions } from './pretty.js';
