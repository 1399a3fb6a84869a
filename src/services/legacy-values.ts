/** How the Python services read JSON values: dicts, truthiness, dict keys, strings. */
import { isLosslessNumber, pyDumps } from '../util/pyjson.js';

/** A JSON object (a Python dict). */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !isLosslessNumber(v);

/** Python's bool(value) for JSON values: "", 0, [], {}, null and false are false. */
export function pyTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  // A number as written: zero however spelt (0, 0.0, -0e5) is false.
  if (isLosslessNumber(value)) return Number(value.value) !== 0;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** A non-empty string. */
export const isText = (value: unknown): value is string => typeof value === 'string' && value !== '';

/** A request value as text: strings as they are, anything else as its JSON. */
export const textOf = (value: unknown): string => (typeof value === 'string' ? value : pyDumps(value));

/** The id-map key for a legacy session or user id: Python's str() of it, as the agents key their dicts. */
export function legacyKey(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return textOf(value);
}

/** Python's type name of a JSON value (as an AttributeError names it). */
export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'str';
  if (Array.isArray(value)) return 'list';
  if (isLosslessNumber(value)) return /[.eE]|inf|nan/i.test(value.value) ? 'float' : 'int';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  return 'dict';
}
