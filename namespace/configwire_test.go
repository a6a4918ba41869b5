package namespace

import (
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confinelab/confine/mount"
)

// fill sets every field reachable from v (pointers allocated, slices of
// two elements) to a non-zero value derived from *n, so that a field the
// codec forgets decodes as zero and differs.
func fill(t *testing.T, v reflect.Value, n *uint64) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+*n%26)) + "\x00\xff")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(-int64(*n) * 1000003)
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		v.SetUint(*n<<40 | *n)
	case reflect.Uint32, reflect.Uint16, reflect.Uint8:
		v.SetUint(*n % (1 << (8 * v.Type().Size())))
		if v.Uint() == 0 {
			v.SetUint(1)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMapWithSize(v.Type(), 2))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, n)
			fill(t, e, n)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				continue // the init's own state, never sent
			}
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill: no rule for %s: teach the codec and this test the new field's type", v.Type())
	}
}

// Every field of initConfig, mount.Root and their parts crosses the pipe:
// a field added to them and not to the codec fails here.
func TestConfigWireCoversEveryField(t *testing.T) {
	var n uint64
	var cfg initConfig
	fill(t, reflect.ValueOf(&cfg).Elem(), &n)
	got, err := decodeConfig(encodeConfig(&cfg))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &cfg) {
		t.Fatalf("round trip lost something:\n got %+v\nwant %+v", got, &cfg)
	}
}

// Nil and empty slices and pointers stay what they were.
func TestConfigWireNilAndEmpty(t *testing.T) {
	for _, cfg := range []*initConfig{
		{},
		{Args: []string{}, Env: []string{}, Rlimits: []Rlimit{}, Seccomp: []unix.SockFilter{},
			Sysctl: map[string]string{}, Enter: &enterConfig{NSFDs: []int{}, Rlimits: []Rlimit{}},
			Root:       &mount.Root{Mounts: []mount.Mount{{Options: []string{}}}, MaskedPaths: []string{}, Devices: []mount.DeviceNode{}},
			Credential: &Credential{Groups: []uint32{}}, Capabilities: &Capabilities{}},
	} {
		got, err := decodeConfig(encodeConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, cfg) {
			t.Errorf("round trip:\n got %#v\nwant %#v", got, cfg)
		}
	}
}

// A truncated or extended config is refused, never half-read.
func TestConfigWireMalformed(t *testing.T) {
	var n uint64
	var cfg initConfig
	fill(t, reflect.ValueOf(&cfg).Elem(), &n)
	b := encodeConfig(&cfg)
	for i := range len(b) {
		if _, err := decodeConfig(b[:i]); err == nil {
			t.Fatalf("config cut at byte %d of %d accepted", i, len(b))
		}
	}
	if _, err := decodeConfig(append(b, 0)); err == nil {
		t.Fatal("config with a trailing byte accepted")
	}
}

func FuzzDecodeConfig(f *testing.F) {
	var n uint64
	var cfg initConfig
	fill(&testing.T{}, reflect.ValueOf(&cfg).Elem(), &n)
	f.Add(encodeConfig(&cfg))
	f.Add(encodeConfig(&initConfig{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := decodeConfig(b)
		if err != nil {
			return
		}
		again, err := decodeConfig(encodeConfig(cfg))
		if err != nil || !reflect.DeepEqual(again, cfg) {
			t.Fatalf("re-encoded config decodes differently (%v)", err)
		}
	})
}
