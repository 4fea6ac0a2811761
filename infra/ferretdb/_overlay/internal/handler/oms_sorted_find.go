// OMS patch (infra/omsinfra.py copies this file into FerretDB v1.24.2 before building ferretdb-local).
//
// FerretDB v1.24 sorts a find in Go after reading every candidate document, so the first page of a sorted list
// costs as much as the whole collection. With this patch the SQLite backend may answer a find in the order of
// its first sort key (backends.QueryParams.OMSSortField; it sets QueryResult.OMSSorted when it did, see
// backends/sqlite/oms_pushdown.go), and the handler stops reading once it holds skip+limit matches.

package handler

import (
	"context"
	"errors"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/handler/common"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
)

// omsMaxSorted bounds skip+limit for the sorted read: the matches are held in memory.
const omsMaxSorted = 10_000

// omsSortNeed returns skip+limit when a find may be read in the order of its first sort key, else 0:
// pushdown enabled, not tailable, a limit, and a first sort key that is a top-level field.
func omsSortNeed(h *Handler, params *common.FindParams) int {
	if h.DisablePushdown || params.Tailable || params.Limit <= 0 || params.Sort.Len() == 0 {
		return 0
	}
	field := params.Sort.Keys()[0]
	if strings.HasPrefix(field, "$") || strings.Contains(field, ".") {
		return 0
	}
	need := params.Skip + params.Limit
	if need > omsMaxSorted {
		return 0
	}
	return int(need)
}

// omsSortField returns the first sort key and whether it is descending.
func omsSortField(sort *types.Document) (string, bool) {
	field := sort.Keys()[0]
	return field, sort.Values()[0] == int64(-1)
}

// omsFirstMatches reads iter (documents in ascending or descending order of the first sort key, all of them
// strings) through the filter until it holds `need` matches and the next match has a different first key, so
// every document that ties with the last one kept is kept too. What it returns holds every document that the
// full sort could place among the first `need`; the handler then sorts it by the whole sort document and applies
// skip and limit as usual. If a document breaks the promise (a non-string key: it cannot, the backend only
// returns string keys), it reads the ordinary way instead.
func omsFirstMatches(ctx context.Context, coll backends.Collection, qp *backends.QueryParams,
	iter types.DocumentsIterator, params *common.FindParams, need int) (types.DocumentsIterator, error) {
	closer := iterator.NewMultiCloser(iter)
	filtered := common.FilterIterator(iter, closer, params.Filter)
	defer closer.Close()

	field := qp.OMSSortField
	var docs []*types.Document
	var last string

	for {
		_, doc, err := filtered.Next()
		if errors.Is(err, iterator.ErrIteratorDone) {
			break
		}
		if err != nil {
			return nil, err
		}

		v, _ := doc.Get(field)
		key, ok := v.(string)
		if !ok {
			closer.Close()
			plain := *qp
			plain.OMSSortField, plain.OMSSortDesc = "", false
			res, err := coll.Query(ctx, &plain)
			if err != nil {
				return nil, err
			}
			return res.Iter, nil
		}

		if len(docs) >= need && key != last {
			break
		}
		docs = append(docs, doc)
		last = key
	}

	return iterator.Values(iterator.ForSlice(docs)), nil
}
