package main

import (
	"fmt"
	"strconv"
	"strings"
)

// flagDef describes one `confine run` flag: its names (long first, then a
// one-letter alias), the argument it takes ("" for a switch), where --help
// lists it, and how it stores a value into the options.
type flagDef struct {
	long, short string
	arg         string // e.g. "SIZE"; "" for a boolean switch
	group       string
	help        string
	def         string // default shown by --help
	repeat      bool
	set         func(o *options, v string) error
}

// FlagError is a bad command line: the flag (as the user would type it,
// "--memory") and why. confine prints it as one line and exits 125.
type FlagError struct {
	Flag   string
	Value  string
	Reason string
}

func (e *FlagError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Flag, e.Reason)
	}
	return fmt.Sprintf("%s: %q: %s", e.Flag, e.Value, e.Reason)
}

// lookupFlag finds a flag by its long name ("memory") or its one-letter
// alias ("v").
func lookupFlag(name string, short bool) *flagDef {
	for i := range runFlags {
		f := &runFlags[i]
		if (!short && f.long == name) || (short && f.short != "" && f.short == name) {
			return f
		}
	}
	return nil
}

// parseRunArgs reads `confine run` arguments the way docker does: flags
// first ("--name value", "--name=value", "-v value", "-vvalue"), then the
// command; "--" or the first word that is not a flag starts the command.
// Each value is validated by its flag's setter, so a bad value is reported
// naming the flag before anything is created.
func parseRunArgs(args []string) (*options, error) {
	o := newOptions()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.command = args[i+1:]
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			o.command = args[i:]
			break
		}
		f, shown, val, hasVal, err := splitFlag(a)
		if err != nil {
			return nil, err
		}
		if f.arg == "" {
			if err := setSwitch(o, f, shown, val, hasVal); err != nil {
				return nil, err
			}
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, &FlagError{Flag: shown, Reason: "needs a value (" + f.arg + ")"}
			}
			i++
			val = args[i]
		}
		if err := f.set(o, val); err != nil {
			return nil, asFlagError(shown, val, err)
		}
	}
	if o.help {
		return o, nil
	}
	if len(o.command) == 0 {
		return nil, &FlagError{Flag: "COMMAND", Reason: "missing (usage: confine run [FLAGS] [--] COMMAND [ARG...])"}
	}
	if err := o.finish(); err != nil {
		return nil, err
	}
	return o, nil
}

// splitFlag identifies the flag in a, returning it, the spelling to show in
// errors and the inline value if any.
func splitFlag(a string) (f *flagDef, shown, val string, hasVal bool, err error) {
	if strings.HasPrefix(a, "--") {
		name, v, has := strings.Cut(a[2:], "=")
		if f = lookupFlag(name, false); f == nil {
			return nil, "--" + name, "", false, &FlagError{Flag: "--" + name, Reason: "unknown flag (see confine run --help)"}
		}
		return f, "--" + name, v, has, nil
	}
	name := a[1:2]
	if f = lookupFlag(name, true); f == nil {
		return nil, "-" + name, "", false, &FlagError{Flag: a, Reason: "unknown flag (see confine run --help)"}
	}
	rest := a[2:]
	if f.arg == "" && rest != "" {
		return nil, "-" + name, "", false, &FlagError{Flag: a, Reason: "unknown flag (see confine run --help)"}
	}
	rest = strings.TrimPrefix(rest, "=")
	return f, "-" + name, rest, rest != "", nil
}

// setSwitch handles a boolean flag, which takes an inline value only
// ("--read-only=false").
func setSwitch(o *options, f *flagDef, shown, val string, hasVal bool) error {
	if !hasVal {
		return f.set(o, "true")
	}
	b, err := strconv.ParseBool(val)
	if err != nil {
		return &FlagError{Flag: shown, Value: val, Reason: "must be true or false"}
	}
	return f.set(o, strconv.FormatBool(b)) // setters see "true" or "false"
}

// asFlagError names the flag in an error from a value parser, keeping a
// *FlagError the setter already built.
func asFlagError(shown, val string, err error) error {
	if fe, ok := err.(*FlagError); ok {
		if fe.Flag == "" {
			fe.Flag = shown
		}
		return fe
	}
	return &FlagError{Flag: shown, Value: val, Reason: err.Error()}
}
