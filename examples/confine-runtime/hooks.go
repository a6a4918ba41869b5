package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHooks runs each hook in the runtime's namespaces with the container's
// state on stdin, as runtime-spec says, bounded by its timeout. It stops
// at the first failure and returns it: for prestart and createRuntime that
// fails the create (see warnHooks for the kinds that only warn).
func runHooks(kind string, hooks []specs.Hook, st containerState) error {
	if len(hooks) == 0 {
		return nil
	}
	in, err := json.Marshal(st.State)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, in); err != nil {
			return fmt.Errorf("%s hook %d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// warnHooks runs every hook of a kind whose failures only warn (poststart,
// poststop): the spec says the remaining hooks and the lifecycle continue
// as if a failed hook had succeeded, so each failure is logged and the
// next hook runs.
func (rt *runtime) warnHooks(kind string, hooks []specs.Hook, st containerState) {
	if len(hooks) == 0 {
		return
	}
	in, err := json.Marshal(st.State)
	if err != nil {
		rt.warnf("%s hooks: %v", kind, err)
		return
	}
	for i, h := range hooks {
		if err := runHook(h, in); err != nil {
			rt.warnf("%s hook %d (%s): %v", kind, i, h.Path, err)
		}
	}
}

func runHook(h specs.Hook, stdin []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("timed out after %ds", *h.Timeout)
		}
		if b := bytes.TrimSpace(out.Bytes()); len(b) > 0 {
			if len(b) > 4096 {
				b = b[:4096]
			}
			return fmt.Errorf("%w: %s", err, b)
		}
		return err
	}
	return nil
}
