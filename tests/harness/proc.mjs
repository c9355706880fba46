// What /proc says about a process (Linux): resident memory, open descriptors, threads, and a
// sampler that records the peak RSS while something runs.

import { readFileSync, readdirSync } from 'node:fs';

/** Fields of /proc/<pid>/status as strings (e.g. { VmRSS: '12345 kB', Threads: '17' }), or null if gone. */
export function procStatus(pid) {
  if (!pid) return null;
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const out = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function kb(field) {
  const m = /^(\d+)\s*kB$/.exec(field ?? '');
  return m ? Number(m[1]) * 1024 : null;
}

/** Resident set size of `pid` in bytes (VmRSS), or null if the process is gone. */
export function rssOf(pid) {
  return kb(procStatus(pid)?.VmRSS);
}

/** Peak resident set size the kernel recorded for `pid` (VmHWM) in bytes, or null. */
export function peakRssOf(pid) {
  return kb(procStatus(pid)?.VmHWM);
}

/** Number of threads of `pid`, or null. */
export function threadsOf(pid) {
  const t = procStatus(pid)?.Threads;
  return t ? Number(t) : null;
}

/** Number of open file descriptors of `pid` (entries of /proc/<pid>/fd), or null. */
export function fdCount(pid) {
  if (!pid) return null;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/**
 * CPU time `pid` has used so far, user + system, in seconds (/proc/<pid>/stat utime + stime,
 * in clock ticks of 1/100 s, Linux's USER_HZ), or null if the process is gone.
 */
export function cpuSecondsOf(pid) {
  if (!pid) return null;
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces: count from after it.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

export const MB = 1024 * 1024;

/**
 * Samples the RSS of `pid` every `intervalMs` until stop(); reports the baseline (at start),
 * the peak and the last sample, in bytes.
 */
export function sampleRss(pid, { intervalMs = 50 } = {}) {
  const base = rssOf(pid);
  let peak = base ?? 0;
  let last = base;
  let samples = 1;
  const tick = () => {
    const v = rssOf(pid);
    if (v !== null) {
      last = v;
      samples += 1;
      if (v > peak) peak = v;
    }
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref?.();
  return {
    get base() {
      return base;
    },
    get peak() {
      return peak;
    },
    stop() {
      clearInterval(timer);
      tick();
      return { base, peak, last, samples, growth: peak - (base ?? 0) };
    },
  };
}
