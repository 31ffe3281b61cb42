"""Defaults shared by the library and the command line, in one place (torch-free, so `adain --help`
answers without loading torch)."""

CONTENT_SIZE = 512  # shorter side of contents and styles, as the reference scripts resize
STYLE_SIZE = 512
QUALITY = 95  # jpg and webp outputs
GRID_CELL = 256  # side of one contact-sheet cell in pixels
GRID_ROWS = 100  # rows of contents on one page of a grid; a taller sheet is split into pages
STABILIZE_STRENGTH = 0.8  # videos: how much of the running feature average a still part keeps
MAX_PIXELS = 178_956_970  # Pillow's decompression-bomb limit
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
OUTPUT_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "tif", "tiff", "auto")  # auto: each content's own
ENCODER = "vgg_normalised"
DECODER = "decoder"
TILE_GRID = 8  # tiles start on the encoder's 8-pixel grid (three 2× poolings)
MIN_TILE = 64  # the smallest tile side worth its 64 px of context
