// What the test build's sanitizers (-DCUMULUS_SANITIZE=ON: ASan with its
// LeakSanitizer, UBSan) say on a daemon's stderr, and how a test file fails
// on it: lib/controlplane.mjs, lib/agent.mjs and lib/webui.mjs judge every
// daemon they stop.  leak_check.test.mjs also asks each daemon to log its
// leak check (LEAK_CHECK_ENV) to prove that the check ran.

// A memory error or leak report, UBSan's "runtime error:", or LSan giving
// up (it cannot run under ptrace, say): each is a failure.
const REPORT = /^(==\d+==ERROR: \w+Sanitizer|.*runtime error: |==\d+==\w+Sanitizer has encountered a fatal error).*$/m;

// The report in `log` (up to 6000 characters of it), or null.
export function sanitizerReport(log) {
  const found = REPORT.exec(log);
  return found ? log.slice(found.index, found.index + 6000) : null;
}

// Fails the test file when `log` holds a report, or when `exit` (what a
// SIGTERM sent by the caller ended in) is not 0 — by printing why and
// setting the exit code, not by throwing, which would skip the rest of
// the caller's clean-up (the other daemons, QEMU).  Returns whether all
// was well.
export function judgeDaemon(what, log, exit) {
  const report = sanitizerReport(log);
  if (report) console.error(`${what}: a sanitizer report on its stderr:\n${report}`);
  const unclean = exit && exit.code !== 0;
  if (unclean && !report) console.error(`${what} exited with ${exit.code ?? exit.signal} on SIGTERM:\n${log.slice(-8000)}`);
  if (report || unclean) process.exitCode = 1;
  return !report && !unclean;
}

// The daemon's stderr read to its end (a report is written just before
// the process exits; 'exit' may come before the last of it is read), or
// as far as it got within `ms` (a child of the daemon may hold it open).
export async function stderrDrained(proc, ms = 2000) {
  if (!proc?.stderr || proc.stderr.readableEnded) return;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    proc.stderr.once('end', () => { clearTimeout(timer); resolve(); });
  });
}

// The environment under which a daemon's leak check leaves a trace:
// LeakSanitizer's log_threads writes "Processing thread <tid>." for every
// thread it scans at exit, so the main thread's line (its tid is the pid)
// proves the check ran in that very process.
export const LEAK_CHECK_ENV = {
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
  LSAN_OPTIONS: 'log_threads=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};

export function leakCheckRan(log, pid) {
  return new RegExp(`^==\\d+==Processing thread ${pid}\\.$`, 'm').test(log);
}
