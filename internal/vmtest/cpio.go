package vmtest

import (
	"fmt"
	"io"
	"strings"
)

// Mode bits of cpio entries (the st_mode file type values).
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// CPIOWriter writes an archive in the "newc" cpio format (magic 070701), the
// format the kernel unpacks into its initramfs. Archives may be concatenated:
// the kernel unpacks each member in turn, later entries replacing earlier ones.
type CPIOWriter struct {
	w    io.Writer
	n    int64 // bytes written, for 4-byte alignment
	ino  uint32
	rdev [2]uint32 // major, minor of the next device entry
	err  error
	done bool
}

// NewCPIOWriter returns a writer that appends newc entries to w.
func NewCPIOWriter(w io.Writer) *CPIOWriter { return &CPIOWriter{w: w, ino: 1} }

// Dir adds a directory entry.
func (c *CPIOWriter) Dir(name string, perm uint32) error {
	return c.entry(name, modeDir|perm&0o7777, 2, nil)
}

// File adds a regular file with the given contents.
func (c *CPIOWriter) File(name string, perm uint32, data []byte) error {
	return c.entry(name, modeFile|perm&0o7777, 1, data)
}

// Symlink adds a symbolic link name pointing to target.
func (c *CPIOWriter) Symlink(name, target string) error {
	return c.entry(name, modeSymlink|0o777, 1, []byte(target))
}

// CharDev adds a character device node (the initramfs needs dev/console
// before devtmpfs is mounted, or /init starts without stdio).
func (c *CPIOWriter) CharDev(name string, perm, major, minor uint32) error {
	c.rdev = [2]uint32{major, minor}
	defer func() { c.rdev = [2]uint32{} }()
	return c.entry(name, modeCharDev|perm&0o7777, 1, nil)
}

// FileFrom adds a regular file of size bytes read from r.
func (c *CPIOWriter) FileFrom(name string, perm uint32, size int64, r io.Reader) error {
	if err := c.header(name, modeFile|perm&0o7777, 1, size); err != nil {
		return err
	}
	n, err := io.CopyN(c.w, r, size)
	c.n += n
	if err != nil {
		c.err = fmt.Errorf("cpio: copying %s: %w", name, err)
		return c.err
	}
	return c.pad()
}

// Close writes the trailer entry. It does not close the underlying writer.
func (c *CPIOWriter) Close() error {
	if c.done {
		return c.err
	}
	c.done = true
	if c.err != nil {
		return c.err
	}
	c.ino = 0
	return c.entry("TRAILER!!!", 0, 1, nil)
}

func (c *CPIOWriter) entry(name string, mode, nlink uint32, data []byte) error {
	if err := c.header(name, mode, nlink, int64(len(data))); err != nil {
		return err
	}
	c.write(data)
	return c.pad()
}

// header writes the 110-byte newc header and the padded name.
func (c *CPIOWriter) header(name string, mode, nlink uint32, size int64) error {
	if c.err != nil {
		return c.err
	}
	if c.done && name != "TRAILER!!!" {
		return fmt.Errorf("cpio: %s: archive already closed", name)
	}
	name = strings.TrimPrefix(name, "/")
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("cpio: invalid entry name %q", name)
	}
	if size < 0 || size > 0xffffffff {
		return fmt.Errorf("cpio: %s: size %d does not fit the newc format", name, size)
	}
	ino := c.ino
	if c.ino != 0 {
		c.ino++
	}
	// magic ino mode uid gid nlink mtime filesize devmajor devminor
	// rdevmajor rdevminor namesize check; mtime 0 keeps archives reproducible.
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, uint32(size), 0, 0, c.rdev[0], c.rdev[1], len(name)+1, 0)
	c.write([]byte(h))
	c.write([]byte(name))
	c.write([]byte{0})
	return c.pad()
}

func (c *CPIOWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	if err != nil {
		c.err = fmt.Errorf("cpio: writing: %w", err)
	}
}

// pad aligns the stream to 4 bytes, as newc requires after names and data.
func (c *CPIOWriter) pad() error {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
	return c.err
}
