package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
)

// An OCI image layout archive (image-spec v1.1) with one layer, written
// with the standard library only: what `ctr image import` reads. The
// image-spec Go module is not a dependency of confine; these few fields
// are all containerd needs.

const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *ociPlatform      `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ociPlatform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type ociManifest struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Config        ociDescriptor   `json:"config,omitempty"`
	Layers        []ociDescriptor `json:"layers,omitempty"`
	Manifests     []ociDescriptor `json:"manifests,omitempty"` // an index's
}

type ociConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Env []string `json:"Env"`
		Cmd []string `json:"Cmd"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// layerEpoch is every entry's modification time: the same root gives the
// same layer digest.
var layerEpoch = time.Unix(1_700_000_000, 0)

// layerTar writes root's tree as an uncompressed layer: directories,
// regular files and symlinks, owned by root, paths relative to root.
func layerTar(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !fi.Mode().IsRegular() && !fi.IsDir() {
			return fmt.Errorf("%s: only directories, files and symlinks go into the layer", p)
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.ModTime, h.Format = layerEpoch, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ociArchive is an image layout being written as a tar.
type ociArchive struct{ tw *tar.Writer }

func (a ociArchive) file(name string, data []byte) error {
	if err := a.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)),
		ModTime: layerEpoch, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := a.tw.Write(data)
	return err
}

// blob stores data under blobs/sha256/ and returns its descriptor.
func (a ociArchive) blob(mediaType string, data []byte) (ociDescriptor, error) {
	d := ociDescriptor{MediaType: mediaType, Digest: sha256Digest(data), Size: int64(len(data))}
	return d, a.file("blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:"), data)
}

func (a ociArchive) jsonBlob(mediaType string, v any) (ociDescriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ociDescriptor{}, err
	}
	return a.blob(mediaType, b)
}

// writeOCIArchive writes an OCI image layout tar to w: root as the one
// gzipped layer, a config running cmd for this machine's platform, and an
// index naming the image name ("registry/repo:tag", in containerd's
// io.containerd.image.name annotation and the tag in the OCI ref.name).
func writeOCIArchive(w io.Writer, root, name string, cmd []string) error {
	var layer, gz bytes.Buffer
	if err := layerTar(&layer, root); err != nil {
		return fmt.Errorf("layer of %s: %w", root, err)
	}
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(layer.Bytes()); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	a := ociArchive{tar.NewWriter(w)}
	var cfg ociConfig
	cfg.Architecture, cfg.OS = goruntime.GOARCH, "linux"
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Cmd = cmd
	cfg.RootFS.Type, cfg.RootFS.DiffIDs = "layers", []string{sha256Digest(layer.Bytes())}
	layerDesc, err := a.blob(mediaLayer, gz.Bytes())
	if err != nil {
		return err
	}
	cfgDesc, err := a.jsonBlob(mediaConfig, cfg)
	if err != nil {
		return err
	}
	man, err := a.jsonBlob(mediaManifest, ociManifest{SchemaVersion: 2, MediaType: mediaManifest,
		Config: cfgDesc, Layers: []ociDescriptor{layerDesc}})
	if err != nil {
		return err
	}
	man.Platform = &ociPlatform{Architecture: goruntime.GOARCH, OS: "linux"}
	_, tag, _ := strings.Cut(name[strings.LastIndexByte(name, '/')+1:], ":")
	man.Annotations = map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}
	index, err := json.Marshal(ociManifest{SchemaVersion: 2, MediaType: mediaIndex, Manifests: []ociDescriptor{man}})
	if err != nil {
		return err
	}
	if err := a.file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := a.file("index.json", index); err != nil {
		return err
	}
	return a.tw.Close()
}

// TestOCIArchive reads the archive back as an importer does: every
// descriptor's digest and size match its blob, the config's diff_id is the
// uncompressed layer's digest, and the layer holds the tree with its
// modes and symlinks.
func TestOCIArchive(t *testing.T) {
	root := t.TempDir()
	for name, mode := range map[string]os.FileMode{"bin/busybox": 0o755, "etc/passwd": 0o644} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(name), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("busybox", filepath.Join(root, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeOCIArchive(&b, root, "confine.test/busybox:v1", []string{"sh"}); err != nil {
		t.Fatal(err)
	}
	files := readTar(t, &b)
	var index ociManifest
	mustJSON(t, files["index.json"], &index)
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != "confine.test/busybox:v1" ||
		index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1" {
		t.Fatalf("index: %+v", index)
	}
	blob := func(d ociDescriptor) []byte {
		data, ok := files["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
		if !ok || sha256Digest(data) != d.Digest || int64(len(data)) != d.Size {
			t.Fatalf("blob %s (size %d): present %v, digest %s, size %d", d.Digest, d.Size, ok, sha256Digest(data), len(data))
		}
		return data
	}
	var man ociManifest
	mustJSON(t, blob(index.Manifests[0]), &man)
	var cfg ociConfig
	mustJSON(t, blob(man.Config), &cfg)
	if len(man.Layers) != 1 || man.Layers[0].MediaType != mediaLayer || cfg.OS != "linux" || cfg.Architecture != goruntime.GOARCH {
		t.Fatalf("manifest %+v, config %+v", man, cfg)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(man.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != sha256Digest(layer) {
		t.Errorf("diff_ids %v, layer %s", cfg.RootFS.DiffIDs, sha256Digest(layer))
	}
	tr := tar.NewReader(bytes.NewReader(layer))
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = fmt.Sprintf("%c %o %s uid=%d", h.Typeflag, h.Mode&0o7777, h.Linkname, h.Uid)
	}
	want := map[string]string{"bin/": "5 755  uid=0", "etc/": "5 755  uid=0", "bin/busybox": "0 755  uid=0",
		"bin/sh": "2 777 busybox uid=0", "etc/passwd": "0 644  uid=0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("layer entries:\n got %v\nwant %v", got, want)
	}
}

func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}
