/* pixelwarden._native: the engine's hot paths in C: the HTML reader (most of this file),
 * quoted-printable decoding, and the memory setting of processes that read message after message.
 *
 * The engine reads HTML with libxml2's push parser, as an lxml parser target (extract.py's
 * _Reader). At 1 MB most of the time went into lxml turning every element into a tag string and
 * an attribute dict and into the reader's Python start/end/data, although most elements of a
 * newsletter (table rows and cells, links, paragraphs) change nothing that the reader records.
 *
 * This module drives the very same libxml2 (the copy inside lxml, found with dlsym on lxml's own
 * module, so the parse is event for event the one lxml would make) with the same options, and
 * handles those ordinary elements and text itself: it pushes and pops the reader's element stack
 * and appends visible text, asking the Python reader's own functions about a style, class or size
 * it has not met before. Every other event (a tag with a handler, a style that may fetch
 * something, a class or id that may mark a quote or match a hiding rule, raw text, quote
 * markers) goes to the reader's own Python start/end/data with the arguments lxml would give.
 * The Python reader stays the one place that decides; the differential tests hold the two paths
 * to the same results. When this module cannot be built or bound, extract.py uses lxml.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <libxml/xmlversion.h>
#include <libxml/parser.h>
#include <libxml/HTMLparser.h>
#include <libxml/xmlerror.h>
#include <libxml/tree.h>

/* -- libxml2, resolved in lxml's module --------------------------------------------------- */

typedef htmlParserCtxtPtr (*create_push_fn)(htmlSAXHandlerPtr, void *, const char *, int,
                                            const char *, xmlCharEncoding);
typedef int (*use_options_fn)(htmlParserCtxtPtr, int);
typedef int (*reset_push_fn)(xmlParserCtxtPtr, const char *, int, const char *, const char *);
typedef int (*parse_chunk_fn)(htmlParserCtxtPtr, const char *, int, int);
typedef void (*free_ctxt_fn)(htmlParserCtxtPtr);
typedef void (*stop_fn)(xmlParserCtxtPtr);
typedef void (*free_doc_fn)(xmlDocPtr);

static struct {
    create_push_fn create_push;
    use_options_fn use_options;
    reset_push_fn reset_push;
    parse_chunk_fn parse_chunk;
    free_ctxt_fn free_ctxt;
    stop_fn stop;
    free_doc_fn free_doc;
    int bound;
} lib;

/* What lxml's HTMLParser(recover=True, no_network=True, huge_tree=True, default_doctype=False)
 * asks of libxml2 (compact is lxml's default). */
#define OPTIONS (HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_COMPACT | HTML_PARSE_HUGE | \
                 HTML_PARSE_NODEFDTD)

/* -- what extract.py hands over once (bind) ------------------------------------------------ */

static PyObject *styles;        /* _STYLES: style attribute -> (hides, shows, may_fetch) */
static PyObject *classes;       /* _CLASSES: class attribute -> may name a quoted part */
static PyObject *slow_tags;     /* tags whose start always goes to Python */
static PyObject *needed;        /* tag -> attribute without which its handler has nothing to do */
static PyObject *sizes;         /* _SIZES: (width, height, style) attributes -> (width, height) */
static PyObject *image_tag;     /* "img": its common case (src, a known size) is recorded here */
static PyObject *image_kind;    /* Kind.IMAGE */
/* The Python reader's functions that fill those caches on a miss (and are what its start() calls) */
static PyObject *style_facts, *quote_class, *size_of;
static long QUOTED, HIDDEN, ANY_HIDDEN, INERT, FOREIGN, SKIP_TEXT;
static PyObject *s_tags, *s_states, *s_found, *s_text, *s_quoted_rest, *s_hiding_rules,
    *s_collect, *s_collect_depth, *s_start, *s_end, *s_data, *s_close, *s_empty, *s_raws,
    *s_image_count, *s_src;

/* -- tag names ----------------------------------------------------------------------------- */

enum { PLAIN = 0, SLOW = 1, NEEDS = 2, IMAGE = 3 };

typedef struct {
    char *name;
    PyObject *tag;   /* the str the reader's stack holds */
    int kind;
    char *need;      /* NEEDS: the attribute that sends the element to Python */
} Name;

#define NAMES 128  /* a table per parser; a document with more tag names builds strings again */
#define NAME_LONGEST 64

/* The Python objects a parser holds: the reader and its bound methods, the reader's state (read
 * again after every call into Python, see reread), and an error kept until feed() raises it. */
#define READER_STATE(X) X(tags) X(states) X(found) X(text) X(hiding_rules) X(raws)
#define PARSER_REFERENCES(X) \
    X(reader) X(start) X(end) X(data) X(close) READER_STATE(X) X(exc_type) X(exc_value) X(exc_tb)

typedef struct {
    PyObject_HEAD
    htmlParserCtxtPtr ctxt;
    int running;
    int stopped;
    PyObject *exc_type, *exc_value, *exc_tb;
    PyObject *reader, *start, *end, *data, *close;
    /* the reader's state, read again after every call into Python (only Python changes it) */
    PyObject *tags, *states, *found, *text, *hiding_rules, *raws;
    int quoted_rest, collecting;
    Py_ssize_t collect_depth;
    Name names[NAMES];
    int name_count;
} Parser;

static unsigned long hash_name(const char *s)
{
    unsigned long h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

/* The entry for a tag name, or NULL when the table is full (the caller builds the string). */
static Name *name_entry(Parser *p, const char *name)
{
    unsigned long i = hash_name(name) % NAMES;
    for (int probe = 0; probe < NAMES; probe++, i = (i + 1) % NAMES) {
        Name *n = &p->names[i];
        if (n->name == NULL)
            break;
        if (strcmp(n->name, name) == 0)
            return n;
    }
    /* only names of real elements are worth keeping; absurd ones are built again each time */
    if (p->name_count >= NAMES * 3 / 4 || strlen(name) > NAME_LONGEST)
        return NULL;
    Name *n = &p->names[i];
    PyObject *tag = PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), NULL);
    if (tag == NULL)
        return NULL;
    PyUnicode_InternInPlace(&tag);
    int kind = PLAIN;
    char *need = NULL;
    int slow = PySet_Contains(slow_tags, tag);
    PyObject *attribute = slow == 0 ? PyDict_GetItemWithError(needed, tag) : NULL;
    if (slow != 0 || PyErr_Occurred()) {
        kind = SLOW;
    } else if (image_tag != NULL && PyUnicode_Compare(tag, image_tag) == 0) {
        kind = IMAGE;
    } else if (attribute != NULL) {
        const char *text = PyUnicode_AsUTF8(attribute);
        need = text ? strdup(text) : NULL;
        kind = need ? NEEDS : SLOW;
    }
    PyErr_Clear();
    n->name = strdup(name);
    if (n->name == NULL) {
        Py_DECREF(tag);
        free(need);
        return NULL;
    }
    n->tag = tag;
    n->kind = kind;
    n->need = need;
    p->name_count++;
    return n;
}

static void forget_names(Parser *p)
{
    for (int i = 0; i < NAMES; i++) {
        Name *n = &p->names[i];
        free(n->name);
        free(n->need);
        Py_CLEAR(n->tag);
        n->name = n->need = NULL;
    }
    p->name_count = 0;
}

/* -- the reader's state -------------------------------------------------------------------- */

static int reread(Parser *p)
{
    PyObject *v;
#define CLEAR(name) Py_CLEAR(p->name);
    READER_STATE(CLEAR)
#undef CLEAR
    if ((p->tags = PyObject_GetAttr(p->reader, s_tags)) == NULL ||
        (p->states = PyObject_GetAttr(p->reader, s_states)) == NULL ||
        (p->found = PyObject_GetAttr(p->reader, s_found)) == NULL ||
        (p->text = PyObject_GetAttr(p->found, s_text)) == NULL ||
        (p->hiding_rules = PyObject_GetAttr(p->found, s_hiding_rules)) == NULL ||
        (p->raws = PyObject_GetAttr(p->found, s_raws)) == NULL)
        return -1;
    if (!PyList_CheckExact(p->tags) || !PyList_CheckExact(p->states) ||
        !PyList_CheckExact(p->text) || !PyDict_CheckExact(p->hiding_rules) ||
        !PyList_CheckExact(p->raws)) {
        PyErr_SetString(PyExc_TypeError, "pixelwarden._native: unexpected reader state");
        return -1;
    }
    if ((v = PyObject_GetAttr(p->found, s_quoted_rest)) == NULL)
        return -1;
    p->quoted_rest = PyObject_IsTrue(v);
    Py_DECREF(v);
    if ((v = PyObject_GetAttr(p->reader, s_collect)) == NULL)
        return -1;
    p->collecting = v != Py_None;
    Py_DECREF(v);
    if ((v = PyObject_GetAttr(p->reader, s_collect_depth)) == NULL)
        return -1;
    p->collect_depth = PyLong_AsSsize_t(v);
    Py_DECREF(v);
    if (p->quoted_rest < 0 || PyErr_Occurred())
        return -1;
    return 0;
}

/* A Python error inside a libxml2 callback: keep it, stop the parser, raise it from feed(). */
static void fail(Parser *p)
{
    if (!p->stopped) {
        PyErr_Fetch(&p->exc_type, &p->exc_value, &p->exc_tb);
        p->stopped = 1;
        lib.stop(p->ctxt);
    }
    PyErr_Clear();
}

static Parser *parser_of(void *ctx)
{
    Parser *p = (Parser *)((xmlParserCtxtPtr)ctx)->_private;
    return (p == NULL || p->stopped) ? NULL : p;
}

static PyObject *text_of(const xmlChar *value)
{
    if (value == NULL)
        return Py_NewRef(s_empty);
    return PyUnicode_DecodeUTF8((const char *)value, (Py_ssize_t)strlen((const char *)value),
                                NULL);
}

/* Call the reader's own method, then read its state again. */
static void call_reader(Parser *p, PyObject *method, PyObject *a, PyObject *b)
{
    PyObject *args[2] = {a, b};
    PyObject *result = PyObject_Vectorcall(method, args, b ? 2 : 1, NULL);
    if (result == NULL) {
        fail(p);
        return;
    }
    Py_DECREF(result);
    if (reread(p) < 0)
        fail(p);
}

static long last_state(Parser *p)
{
    Py_ssize_t n = PyList_GET_SIZE(p->states);
    return n ? PyLong_AsLong(PyList_GET_ITEM(p->states, n - 1)) : 0;
}

/* -- libxml2 callbacks --------------------------------------------------------------------- */

static void start_in_python(Parser *p, Name *n, const char *name, const xmlChar **atts)
{
    PyObject *tag = n ? Py_NewRef(n->tag)
                      : PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), NULL);
    PyObject *attrib = PyDict_New();
    if (tag == NULL || attrib == NULL)
        goto error;
    /* as lxml builds it: names as given, a missing value is "", a repeated name keeps the last */
    for (const xmlChar **a = atts; a != NULL && a[0] != NULL; a += 2) {
        PyObject *key = text_of(a[0]);
        PyObject *value = key ? text_of(a[1]) : NULL;
        int bad = value == NULL || PyDict_SetItem(attrib, key, value) < 0;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (bad)
            goto error;
    }
    call_reader(p, p->start, tag, attrib);
    Py_DECREF(tag);
    Py_DECREF(attrib);
    return;
error:
    Py_XDECREF(tag);
    Py_XDECREF(attrib);
    fail(p);
}

/* What one of the Python reader's caches says of key or, on a miss, what the function that fills
 * it computes (and remembers there), as the reader's start() does: a new reference, or NULL with
 * the exception set. */
static PyObject *known_or_computed(PyObject *cache, PyObject *compute, PyObject *key)
{
    PyObject *value = PyDict_GetItemWithError(cache, key);
    if (value != NULL)
        return Py_NewRef(value);
    if (PyErr_Occurred())
        return NULL;
    return PyObject_CallOneArg(compute, key);
}

/* An attribute of the element being started: libxml2 gives a NULL value for one without "=",
 * which the reader's dict holds as "", so whether it is there is kept apart from its value. */
typedef struct {
    const xmlChar *value;
    int present;
} Attribute;

static void see(Attribute *attribute, const xmlChar *value)
{
    attribute->value = value;  /* a repeated name keeps the last, as lxml's dict does */
    attribute->present = 1;
}

/* The attribute's value as the reader's dict would give it, or None when it is absent. */
static PyObject *attribute_or_none(Attribute attribute)
{
    return attribute.present ? text_of(attribute.value) : Py_NewRef(Py_None);
}

/* extract._img for an <img> that has no srcset (its size read through _SIZES):
 * count it and record its src. 1 when done, 0 when Python has to do it, -1 on error. */
static int record_image(Parser *p, Name *n, long state, Attribute src, Attribute width,
                        Attribute height, PyObject *style)
{
    PyObject *key = PyTuple_New(3);
    if (key == NULL)
        return -1;
    PyObject *parts[3] = {attribute_or_none(width), attribute_or_none(height),
                          Py_NewRef(style ? style : Py_None)};
    for (int i = 0; i < 3; i++) {
        if (parts[i] == NULL) {
            for (int j = i + 1; j < 3; j++)
                Py_XDECREF(parts[j]);
            Py_DECREF(key);
            return -1;
        }
        PyTuple_SET_ITEM(key, i, parts[i]);
    }
    PyObject *size = known_or_computed(sizes, size_of, key);
    Py_DECREF(key);
    if (size == NULL)
        return -1;
    if (!PyTuple_CheckExact(size) || PyTuple_GET_SIZE(size) != 2) {
        Py_DECREF(size);
        return 0;
    }
    PyObject *count = PyObject_GetAttr(p->found, s_image_count);
    long counted = count ? PyLong_AsLong(count) : -1;
    Py_XDECREF(count);
    PyObject *more = counted == -1 && PyErr_Occurred() ? NULL : PyLong_FromLong(counted + 1);
    int bad = more == NULL || PyObject_SetAttr(p->found, s_image_count, more) < 0;
    Py_XDECREF(more);
    if (bad || !src.present) {
        Py_DECREF(size);
        return bad ? -1 : 1;
    }
    PyObject *url = text_of(src.value);
    PyObject *raw = url ? PyTuple_New(9) : NULL;
    if (raw == NULL) {
        Py_XDECREF(url);
        Py_DECREF(size);
        return -1;
    }
    PyTuple_SET_ITEM(raw, 0, url);
    PyTuple_SET_ITEM(raw, 1, Py_NewRef(image_kind));
    PyTuple_SET_ITEM(raw, 2, Py_NewRef(n->tag));
    PyTuple_SET_ITEM(raw, 3, Py_NewRef(s_src));
    PyTuple_SET_ITEM(raw, 4, Py_NewRef(PyTuple_GET_ITEM(size, 0)));
    PyTuple_SET_ITEM(raw, 5, Py_NewRef(PyTuple_GET_ITEM(size, 1)));
    PyTuple_SET_ITEM(raw, 6, PyBool_FromLong(state & ANY_HIDDEN));
    PyTuple_SET_ITEM(raw, 7, PyBool_FromLong(state & QUOTED));
    PyTuple_SET_ITEM(raw, 8, Py_NewRef(Py_None));
    Py_DECREF(size);
    bad = PyList_Append(p->raws, raw) < 0;
    Py_DECREF(raw);
    return bad ? -1 : 1;
}

static void on_start(void *ctx, const xmlChar *xname, const xmlChar **atts)
{
    Parser *p = parser_of(ctx);
    if (p == NULL)
        return;
    PyObject *style_text = NULL;  /* the style attribute as a str, once decoded */
    const char *name = (const char *)xname;
    Name *n = name_entry(p, name);
    PyErr_Clear();
    if (n == NULL || n->kind == SLOW)
        goto slow;
    long state = last_state(p);
    if (state == -1 && PyErr_Occurred()) {
        fail(p);
        return;
    }
    if (p->quoted_rest)
        state |= QUOTED;
    Attribute style = {0}, cls = {0}, id = {0}, hidden = {0}, src = {0}, width = {0}, height = {0};
    int count = 0;
    for (const xmlChar **a = atts; a != NULL && a[0] != NULL; a += 2) {
        const char *key = (const char *)a[0];
        count++;
        if (strcmp(key, "style") == 0)
            see(&style, a[1]);
        else if (strcmp(key, "class") == 0)
            see(&cls, a[1]);
        else if (strcmp(key, "id") == 0)
            see(&id, a[1]);
        else if (strcmp(key, "hidden") == 0)
            see(&hidden, a[1]);
        else if (n->kind == NEEDS && strcmp(key, n->need) == 0)
            goto slow;
        else if (n->kind == IMAGE && strcmp(key, "src") == 0)
            see(&src, a[1]);
        else if (n->kind == IMAGE && strcmp(key, "width") == 0)
            see(&width, a[1]);
        else if (n->kind == IMAGE && strcmp(key, "height") == 0)
            see(&height, a[1]);
        else if (n->kind == IMAGE && strcmp(key, "srcset") == 0)
            goto slow;  /* candidates to parse: Python's _srcset */
    }
    /* inside svg or math every attribute may be a presentation URL (unless inert) */
    if ((state & FOREIGN) && count && !(state & INERT))
        goto slow;
    if ((cls.present || id.present) && PyDict_GET_SIZE(p->hiding_rules))
        goto slow;
    if (id.present && !(state & QUOTED))
        goto slow;
    if (style.present) {
        style_text = text_of(style.value);
        if (style_text == NULL)
            goto failed;
        PyObject *facts = known_or_computed(styles, style_facts, style_text);
        if (facts == NULL)
            goto failed;
        int may_fetch = -1;
        long hides = 0, shows = 0;
        if (PyTuple_CheckExact(facts) && PyTuple_GET_SIZE(facts) == 3) {
            may_fetch = PyObject_IsTrue(PyTuple_GET_ITEM(facts, 2));
            hides = PyLong_AsLong(PyTuple_GET_ITEM(facts, 0));
            shows = PyLong_AsLong(PyTuple_GET_ITEM(facts, 1));
        }
        Py_DECREF(facts);
        if (may_fetch != 0 || PyErr_Occurred()) {
            PyErr_Clear();
            goto slow;  /* it may fetch something: the Python reader reads its URLs */
        }
        if (hides || shows)
            state = (state | hides) & ~shows;
    }
    if (hidden.present)
        state |= HIDDEN;
    if (cls.present && !(state & QUOTED)) {
        PyObject *key = text_of(cls.value);
        if (key == NULL)
            goto failed;
        PyObject *known = known_or_computed(classes, quote_class, key);
        Py_DECREF(key);
        if (known == NULL)
            goto failed;
        int quoting = PyObject_IsTrue(known);
        Py_DECREF(known);
        if (quoting != 0) {
            PyErr_Clear();
            goto slow;  /* it may name a quoted part */
        }
    }
    if (n->kind == IMAGE && count && !(state & INERT)) {
        int done = record_image(p, n, state, src, width, height, style_text);
        if (done < 0)
            goto failed;
        if (done == 0)
            goto slow;
    }
    PyObject *value = PyLong_FromLong(state);
    if (value == NULL || PyList_Append(p->tags, n->tag) < 0) {
        Py_XDECREF(value);
        goto failed;
    }
    if (PyList_Append(p->states, value) < 0)
        fail(p);
    Py_DECREF(value);
    Py_XDECREF(style_text);
    return;
failed:
    Py_XDECREF(style_text);
    fail(p);
    return;
slow:
    Py_XDECREF(style_text);
    start_in_python(p, n, name, atts);
}

static void on_end(void *ctx, const xmlChar *xname)
{
    Parser *p = parser_of(ctx);
    if (p == NULL)
        return;
    const char *name = (const char *)xname;
    Name *n = name_entry(p, name);
    PyErr_Clear();
    PyObject *tag = n ? Py_NewRef(n->tag)
                      : PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), NULL);
    if (tag == NULL) {
        fail(p);
        return;
    }
    Py_ssize_t size = PyList_GET_SIZE(p->tags);
    if (size > 0 && PyList_GET_SIZE(p->states) == size &&
        (!p->collecting || size - 1 != p->collect_depth)) {
        PyObject *last = PyList_GET_ITEM(p->tags, size - 1);
        int same = last == tag ? 1 : PyObject_RichCompareBool(last, tag, Py_EQ);
        if (same == 1) {
            if (PyList_SetSlice(p->tags, size - 1, size, NULL) < 0 ||
                PyList_SetSlice(p->states, size - 1, size, NULL) < 0)
                fail(p);
            Py_DECREF(tag);
            return;
        }
        PyErr_Clear();
    }
    call_reader(p, p->end, tag, NULL);
    Py_DECREF(tag);
}

static void on_text(void *ctx, const xmlChar *ch, int len)
{
    Parser *p = parser_of(ctx);
    if (p == NULL)
        return;
    int to_python = p->collecting;
    if (!to_python) {
        long state = last_state(p);
        if (state == -1 && PyErr_Occurred()) {
            fail(p);
            return;
        }
        if (state & SKIP_TEXT)
            return;
        /* a forward or reply marker ("-----Original Message-----", "On ... wrote:") */
        to_python = memchr(ch, '-', (size_t)len) != NULL || memchr(ch, ':', (size_t)len) != NULL;
    }
    PyObject *text = PyUnicode_DecodeUTF8((const char *)ch, len, NULL);
    if (text == NULL) {
        fail(p);
        return;
    }
    if (to_python)
        call_reader(p, p->data, text, NULL);
    else if (PyList_Append(p->text, text) < 0)
        fail(p);
    Py_DECREF(text);
}

static void on_error(void *user, const xmlError *error)
{
    (void)user;
    (void)error;  /* recovered from, as with lxml; nothing for the user to see */
}

/* -- the Parser type: feed(text), close(), like lxml's feed parser ------------------------- */

static int start_document(Parser *p)
{
    if (p->ctxt == NULL) {
        p->ctxt = lib.create_push(NULL, NULL, NULL, 0, NULL, XML_CHAR_ENCODING_NONE);
        if (p->ctxt == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        htmlSAXHandlerPtr sax = p->ctxt->sax;
        sax->initialized = XML_SAX2_MAGIC;
        sax->serror = on_error;
        sax->startElementNs = NULL;
        sax->endElementNs = NULL;
        sax->startElement = on_start;
        sax->endElement = on_end;
        sax->characters = on_text;
        sax->cdataBlock = on_text;
        sax->comment = NULL;
        sax->processingInstruction = NULL;
        sax->reference = NULL;
        sax->_private = NULL;
        p->ctxt->_private = p;
        lib.use_options(p->ctxt, OPTIONS);
    }
    if (p->ctxt->myDoc != NULL) {
        lib.free_doc(p->ctxt->myDoc);
        p->ctxt->myDoc = NULL;
    }
    if (p->name_count >= NAMES * 3 / 4)
        forget_names(p);  /* filled by an earlier document's made-up names: start again */
    if (lib.reset_push(p->ctxt, NULL, 0, NULL, "UTF-8") != 0) {
        PyErr_NoMemory();
        return -1;
    }
    p->ctxt->html = 1;
    lib.use_options(p->ctxt, OPTIONS);
    /* as lxml does for a target (a deprecated field, still read by this libxml2) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    p->ctxt->replaceEntities = 1;
#pragma GCC diagnostic pop
    p->running = 1;
    return 0;
}

static PyObject *raise_kept(Parser *p)
{
    p->running = 0;
    if (p->exc_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the parser stopped on an earlier error");
        return NULL;
    }
    PyErr_Restore(p->exc_type, p->exc_value, p->exc_tb);
    p->exc_type = p->exc_value = p->exc_tb = NULL;
    return NULL;
}

static PyObject *Parser_feed(Parser *p, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "feed() takes text");
        return NULL;
    }
    if (p->stopped)
        return raise_kept(p);
    if (!p->running && start_document(p) < 0)
        return NULL;
    if (reread(p) < 0)
        return NULL;
    Py_ssize_t size;
    const char *bytes = PyUnicode_AsUTF8AndSize(text, &size);
    if (bytes == NULL)
        return NULL;
    while (size > 0 && !p->stopped) {
        int piece = size > (1 << 20) ? (1 << 20) : (int)size;
        lib.parse_chunk(p->ctxt, bytes, piece, 0);
        bytes += piece;
        size -= piece;
    }
    if (p->stopped)
        return raise_kept(p);
    Py_RETURN_NONE;
}

static PyObject *Parser_close(Parser *p, PyObject *unused)
{
    (void)unused;
    if (p->stopped)
        return raise_kept(p);
    if (p->running) {
        if (reread(p) < 0)
            return NULL;
        lib.parse_chunk(p->ctxt, NULL, 0, 1);
        p->running = 0;
        if (p->ctxt->myDoc != NULL) {
            lib.free_doc(p->ctxt->myDoc);
            p->ctxt->myDoc = NULL;
        }
        if (p->stopped)
            return raise_kept(p);
    }
    return PyObject_CallNoArgs(p->close);
}

static int Parser_traverse(Parser *p, visitproc visit, void *arg)
{
#define VISIT(name) Py_VISIT(p->name);
    PARSER_REFERENCES(VISIT)
#undef VISIT
    return 0;
}

static int Parser_clear(Parser *p)
{
#define CLEAR(name) Py_CLEAR(p->name);
    PARSER_REFERENCES(CLEAR)
#undef CLEAR
    return 0;
}

static void Parser_dealloc(Parser *p)
{
    PyObject_GC_UnTrack(p);
    if (p->ctxt != NULL) {
        if (p->ctxt->myDoc != NULL)
            lib.free_doc(p->ctxt->myDoc);
        p->ctxt->myDoc = NULL;
        p->ctxt->_private = NULL;
        lib.free_ctxt(p->ctxt);
    }
    forget_names(p);
    Parser_clear(p);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

static int Parser_init(Parser *p, PyObject *args, PyObject *kwargs)
{
    PyObject *reader;
    static char *keywords[] = {"target", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O", keywords, &reader))
        return -1;
    if (!lib.bound) {
        PyErr_SetString(PyExc_RuntimeError, "pixelwarden._native is not bound to libxml2");
        return -1;
    }
    Parser_clear(p);
    p->reader = Py_NewRef(reader);
    if ((p->start = PyObject_GetAttr(reader, s_start)) == NULL ||
        (p->end = PyObject_GetAttr(reader, s_end)) == NULL ||
        (p->data = PyObject_GetAttr(reader, s_data)) == NULL ||
        (p->close = PyObject_GetAttr(reader, s_close)) == NULL)
        return -1;
    return 0;
}

static PyMethodDef Parser_methods[] = {
    {"feed", (PyCFunction)Parser_feed, METH_O, "Parse the next piece of the document."},
    {"close", (PyCFunction)Parser_close, METH_NOARGS,
     "Finish the document; returns what the target's close() returns."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ParserType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pixelwarden._native.Parser",
    .tp_basicsize = sizeof(Parser),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "libxml2's HTML push parser feeding an extract._Reader, ordinary events in C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Parser_init,
    .tp_dealloc = (destructor)Parser_dealloc,
    .tp_traverse = (traverseproc)Parser_traverse,
    .tp_clear = (inquiry)Parser_clear,
    .tp_methods = Parser_methods,
};

/* -- bind ----------------------------------------------------------------------------------- */

static PyObject *bind(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    const char *path;
    long runtime_version;
    PyObject *new_styles, *new_classes, *new_slow, *new_needed, *new_sizes, *new_image_tag,
        *new_image_kind, *new_style_facts, *new_quote_class, *new_size_of;
    static char *keywords[] = {"lxml_module", "libxml_version", "styles", "classes",
                               "slow_tags", "needed", "sizes", "image_tag", "image_kind",
                               "style_facts", "quote_class", "size_of", "quoted", "hidden",
                               "any_hidden", "inert", "foreign", "skip_text", NULL};
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "slO!O!O!O!O!O!OOOOllllll", keywords, &path, &runtime_version,
            &PyDict_Type, &new_styles, &PyDict_Type, &new_classes, &PyFrozenSet_Type, &new_slow,
            &PyDict_Type, &new_needed, &PyDict_Type, &new_sizes, &PyUnicode_Type, &new_image_tag,
            &new_image_kind, &new_style_facts, &new_quote_class, &new_size_of, &QUOTED, &HIDDEN,
            &ANY_HIDDEN, &INERT, &FOREIGN, &SKIP_TEXT))
        return NULL;
    if (!PyCallable_Check(new_style_facts) || !PyCallable_Check(new_quote_class) ||
        !PyCallable_Check(new_size_of)) {
        PyErr_SetString(PyExc_TypeError, "style_facts, quote_class and size_of are functions");
        return NULL;
    }
    /* The structures used here are those of the headers this was built with. */
    if (runtime_version / 100 != LIBXML_VERSION / 100)
        Py_RETURN_FALSE;
    void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL)
        Py_RETURN_FALSE;
    lib.create_push = (create_push_fn)dlsym(handle, "htmlCreatePushParserCtxt");
    lib.use_options = (use_options_fn)dlsym(handle, "htmlCtxtUseOptions");
    lib.reset_push = (reset_push_fn)dlsym(handle, "xmlCtxtResetPush");
    lib.parse_chunk = (parse_chunk_fn)dlsym(handle, "htmlParseChunk");
    lib.free_ctxt = (free_ctxt_fn)dlsym(handle, "htmlFreeParserCtxt");
    lib.stop = (stop_fn)dlsym(handle, "xmlStopParser");
    lib.free_doc = (free_doc_fn)dlsym(handle, "xmlFreeDoc");
    /* lxml's module stays loaded as long as the interpreter: the handle is never closed */
    lib.bound = lib.create_push && lib.use_options && lib.reset_push && lib.parse_chunk &&
                lib.free_ctxt && lib.stop && lib.free_doc;
    if (!lib.bound)
        Py_RETURN_FALSE;
    Py_XSETREF(styles, Py_NewRef(new_styles));
    Py_XSETREF(classes, Py_NewRef(new_classes));
    Py_XSETREF(slow_tags, Py_NewRef(new_slow));
    Py_XSETREF(needed, Py_NewRef(new_needed));
    Py_XSETREF(sizes, Py_NewRef(new_sizes));
    Py_XSETREF(image_tag, Py_NewRef(new_image_tag));
    Py_XSETREF(image_kind, Py_NewRef(new_image_kind));
    Py_XSETREF(style_facts, Py_NewRef(new_style_facts));
    Py_XSETREF(quote_class, Py_NewRef(new_quote_class));
    Py_XSETREF(size_of, Py_NewRef(new_size_of));
    Py_RETURN_TRUE;
}

/* -- quoted-printable ------------------------------------------------------------------------ */

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* binascii.a2b_qp(data) (not header mode), with the same result for every input, but copying the
 * text between two "=" in one go instead of byte by byte: a 1 MB HTML body with 35,000 escapes
 * took 2.2 ms in binascii. The rules: "=" and a line end (LF, or CR and anything up to the next
 * LF) is a soft break and goes; "==" is one "="; "=" and two hex digits is that byte; any other
 * "=" stays as it is, and one at the very end goes. */
static PyObject *decode_quoted_printable(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *in = view.buf;
    Py_ssize_t n = view.len, i = 0, w = 0;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);  /* never longer than its input */
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    while (i < n) {
        const unsigned char *escape = memchr(in + i, '=', (size_t)(n - i));
        Py_ssize_t run = escape ? (Py_ssize_t)(escape - (in + i)) : n - i;
        memcpy(o + w, in + i, (size_t)run);
        w += run;
        i += run + 1;  /* past the "=" */
        if (escape == NULL || i >= n)
            break;
        unsigned char c = in[i];
        int high, low;
        if (c == '\n' || c == '\r') {
            while (i < n && in[i] != '\n')
                i++;
            if (i < n)
                i++;
        } else if (c == '=') {
            o[w++] = '=';
            i++;
        } else if (i + 1 < n && (high = hex_digit(c)) >= 0 && (low = hex_digit(in[i + 1])) >= 0) {
            o[w++] = (unsigned char)(high << 4 | low);
            i += 2;
        } else {
            o[w++] = '=';
        }
    }
    PyBuffer_Release(&view);
    if (_PyBytes_Resize(&out, w) < 0)
        return NULL;
    return out;
}

/* Reading one large message after another (the host, `pixelwarden scan`) allocates and frees a
 * few MB of buffers per message. glibc maps buffers of that size afresh and gives freed memory
 * back to the system at once, so every message faulted its pages in again: 1,236 page faults and
 * 4 ms of system time for a 1 MB newsletter. With these thresholds the freed memory is kept
 * (at most `keep` bytes beyond what is in use) and reused: 7 faults, and no more peak memory. */
static PyObject *keep_freed_memory(PyObject *module, PyObject *arg)
{
    (void)module;
    long keep = PyLong_AsLong(arg);
    if (keep == -1 && PyErr_Occurred())
        return NULL;
#ifdef __GLIBC__
    if (keep > 0 && mallopt(M_MMAP_THRESHOLD, (int)(keep > (1L << 25) ? (1L << 25) : keep)) &&
        mallopt(M_TRIM_THRESHOLD, (int)(keep > (1L << 30) ? (1L << 30) : keep)))
        Py_RETURN_TRUE;
#endif
    Py_RETURN_FALSE;
}

static PyMethodDef module_methods[] = {
    {"decode_quoted_printable", decode_quoted_printable, METH_O,
     "binascii.a2b_qp(data), faster on long bodies."},
    {"keep_freed_memory", keep_freed_memory, METH_O,
     "Keep up to this many freed bytes for reuse instead of returning them to the system "
     "(glibc); False where it does not apply."},
    {"bind", (PyCFunction)(void (*)(void))bind, METH_VARARGS | METH_KEYWORDS,
     "Find libxml2 in lxml's module and take the reader's tables; False when it cannot."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "pixelwarden._native",
    "The engine's hot paths in C (see _native.c).", -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void)
{
    if (PyType_Ready(&ParserType) < 0)
        return NULL;
#define INTERN(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL
    INTERN(s_tags, "tags");
    INTERN(s_states, "states");
    INTERN(s_found, "found");
    INTERN(s_text, "text");
    INTERN(s_quoted_rest, "quoted_rest");
    INTERN(s_hiding_rules, "hiding_rules");
    INTERN(s_collect, "collect");
    INTERN(s_collect_depth, "collect_depth");
    INTERN(s_start, "start");
    INTERN(s_end, "end");
    INTERN(s_data, "data");
    INTERN(s_close, "close");
    INTERN(s_empty, "");
    INTERN(s_raws, "raws");
    INTERN(s_image_count, "image_count");
    INTERN(s_src, "src");
#undef INTERN
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Parser", (PyObject *)&ParserType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
