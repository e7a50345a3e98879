// The source components this firmware carries: the registry's full list. Each one costs flash
// (the bundle runs from Storage), not RAM, until a config creates it. A smaller firmware for
// one kind of device would list only its components here.
export { ALL_SOURCES as COMPONENTS } from '../core/sources/index.js';
