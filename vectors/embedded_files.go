package vectors

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"syscall"
	"unsafe"
)

// A collection of the embedded index is a directory with two files:
//
//   - vectors: row i's unit vector at offset i*dim*4, float32 little-endian, memory-mapped in
//     chunks, so that opening reads nothing and the kernel pages vectors in as queries touch them;
//   - log: append-only entries (the collection's name and dimension, distinct metadata, rows with
//     their ID, metadata and list, list centroids, moves of rows between lists), each with its
//     length and a CRC-32C, replayed on open. A torn last entry (a crash mid-write) is cut off.
//
// Nothing is ever rewritten whole: an add writes its vectors into the mapping and appends its
// entries to the log.

const (
	entName     = 'N' // dim u32, name
	entMeta     = 'M' // meta index u32, JSON object
	entRow      = 'R' // row u32, list u32, meta u32, id
	entMove     = 'A' // row u32, list u32
	entCentroid = 'C' // list u32, dim float32
)

// castagnoli is the entries' CRC polynomial: one instruction per 8 bytes on amd64 and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunkBytes is the size of one mapping of the vectors file.
const chunkBytes = 32 << 20

// vecFile is the memory-mapped vectors file.
type vecFile struct {
	f       *os.File
	dim     int
	perRows int         // rows per chunk
	chunks  [][]byte    // mapped chunks
	views   [][]float32 // the chunks as floats
}

func openVecFile(path string, dim int) (*vecFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &vecFile{f: f, dim: dim, perRows: max(1, chunkBytes/(4*dim))}, nil
}

// ensure maps chunks until row rows-1 is addressable, growing the file (sparsely) as needed.
func (v *vecFile) ensure(rows int) error {
	for len(v.chunks)*v.perRows < rows {
		size := int64(v.perRows * v.dim * 4)
		end := int64(len(v.chunks)+1) * size
		st, err := v.f.Stat()
		if err != nil {
			return err
		}
		if st.Size() < end {
			if err := v.f.Truncate(end); err != nil {
				return fmt.Errorf("grow vectors file: %w", err)
			}
		}
		b, err := syscall.Mmap(int(v.f.Fd()), end-size, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("map vectors file: %w", err)
		}
		v.chunks = append(v.chunks, b)
		v.views = append(v.views, unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4))
	}
	return nil
}

// row returns row i's vector, backed by the mapping.
func (v *vecFile) row(i int32) []float32 {
	c, o := int(i)/v.perRows, (int(i)%v.perRows)*v.dim
	return v.views[c][o : o+v.dim : o+v.dim]
}

func (v *vecFile) close() error {
	var errs []error
	for _, b := range v.chunks {
		errs = append(errs, syscall.Munmap(b))
	}
	v.chunks, v.views = nil, nil
	errs = append(errs, v.f.Close())
	return errors.Join(errs...)
}

// logWriter appends entries to a collection's log; flush writes them out in one call.
type logWriter struct {
	f   *os.File
	buf []byte
}

func (w *logWriter) entry(kind byte, payload []byte) {
	w.buf = append(w.buf, kind)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(payload)))
	w.buf = append(w.buf, payload...)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, crc32.Checksum(payload, castagnoli))
}

func (w *logWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.f.Write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("append to index log: %w", err)
	}
	return nil
}

func u32s(vals ...uint32) []byte {
	b := make([]byte, 0, 4*len(vals)+64)
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func floatBytes(b []byte, v []float32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// readLog calls fn for each whole entry of the log at path and returns the offset after the last
// good one (where a torn tail starts).
func readLog(path string, fn func(kind byte, p []byte) error) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var head [5]byte
	var p []byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return off, nil
		}
		n := binary.LittleEndian.Uint32(head[1:])
		if n > 1<<28 {
			return off, nil
		}
		if cap(p) < int(n)+4 {
			p = make([]byte, n+4)
		}
		p = p[:n+4]
		if _, err := io.ReadFull(r, p); err != nil {
			return off, nil
		}
		if crc32.Checksum(p[:n], castagnoli) != binary.LittleEndian.Uint32(p[n:]) {
			return off, nil
		}
		if err := fn(head[0], p[:n]); err != nil {
			return off, err
		}
		off += int64(len(head)) + int64(n) + 4
	}
}
