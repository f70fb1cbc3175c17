package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// startProfiles writes pprof profiles of the whole run into dir for
// `ackd run --profile DIR` (scripts/bench -bench.profile): cpu.prof from
// now until the returned stop, and at stop mutex.prof (contended locks),
// block.prof (goroutines waiting on channels, locks and selects, sampled
// every 10µs of waiting), heap.prof and goroutine.prof. A diagnostic for
// benchmarks, not for production: sampling costs a few percent of CPU.
func startProfiles(dir string) (stop func() error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.prof"))
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, fmt.Errorf("profile: start cpu profile: %w", err)
	}
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(10_000)
	return func() error {
		pprof.StopCPUProfile()
		errs := []error{cpu.Close()}
		for _, name := range []string{"mutex", "block", "heap", "goroutine"} {
			errs = append(errs, writeProfile(filepath.Join(dir, name+".prof"), name))
		}
		runtime.SetMutexProfileFraction(0)
		runtime.SetBlockProfileRate(0)
		for _, e := range errs {
			if e != nil {
				return fmt.Errorf("profile: %w", e)
			}
		}
		return nil
	}, nil
}

func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s profile: %w", name, err)
	}
	return f.Close()
}
