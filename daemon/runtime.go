package daemon

import (
	"os"
	"runtime/debug"
)

// GC settings for the daemon's process, unless GOGC or GOMEMLIMIT say otherwise. triagem
// keeps little alive (10–25 MB in a backlog) but copies every mail several times: with
// Go's defaults the load harness's 1,000-mail run collected 51 times, for 0.26 s of CPU;
// with these, 29 times for 0.13 s (docs/PERFORMANCE.md, lesson 20). The heap may grow
// fourfold between collections, but the soft limit makes the collector run sooner once
// the Go heap nears 64 MB: a backlog's peak RSS went from 81 to 90 MB, a 25 MB mail's
// stayed at 101 MB.
const (
	gcPercent   = 400
	memoryLimit = 64 << 20
)

// TuneRuntime sets the process's GC as above. cmd/triagem calls it first thing, and the
// load harness too, so that it measures what runs.
func TuneRuntime() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
