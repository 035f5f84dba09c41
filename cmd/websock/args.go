package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// parseArgs parses a command's arguments with fs. Unlike fs.Parse, which
// stops at the first argument that is not a flag, it accepts flags
// anywhere, so "websock dial URL -insecure" means what it says; "--" ends
// the flags, and everything after it is an argument even if it starts
// with a dash. Numeric flags (counts, sizes, durations) must not be
// negative: the error names the flag.
func parseArgs(fs *flag.FlagSet, args []string) error {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasValue && takesValue(fs.Lookup(name)) {
			if i+1 == len(args) {
				positional = nil // the flag's value is missing: Parse says so
				break
			}
			i++
			flags = append(flags, args[i])
		}
	}
	if positional != nil {
		flags = append(append(flags, "--"), positional...)
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err} // fs has printed it, with the usage
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if negative(f) {
			errs = append(errs, fmt.Errorf("-%s %s: must not be negative", f.Name, f.Value))
		}
	})
	if len(errs) > 0 {
		return badUsage(fs, "%v", errors.Join(errs...))
	}
	return nil
}

// usageError is a command line that makes no sense, already reported to
// the user with a hint: the command exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// badUsage reports a command line that makes no sense on fs's output, with
// where to find the flags, and returns it as a usageError.
func badUsage(fs *flag.FlagSet, format string, args ...any) error {
	err := fmt.Errorf(fs.Name()+": "+format, args...)
	fmt.Fprintf(fs.Output(), "websock %v\nrun \"websock %s -h\" for usage\n", err, fs.Name())
	return usageError{err}
}

// takesValue reports whether f is a flag whose value is the next argument
// (every flag but a boolean one). An unknown flag (nil) takes none: Parse
// reports it.
func takesValue(f *flag.Flag) bool {
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// negative reports whether f holds a negative number.
func negative(f *flag.Flag) bool {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	switch v := g.Get().(type) {
	case int:
		return v < 0
	case int64:
		return v < 0
	case time.Duration:
		return v < 0
	case float64:
		return v < 0
	}
	return false
}
