"""The vocabulary layout every part of tfseqrec shares: reserved ids first, then the real items.

Id 0 pads sequences (``[PAD]``), id 1 stands for an item outside the vocabulary (``[OOV]``); real items are
``FIRST_ITEM_ID .. V-1`` in the order of ``vocab.tsv``. Declared here once; every module imports these names.
"""

PAD_ID = 0
OOV_ID = 1
FIRST_ITEM_ID = 2
PAD_TOKEN = "[PAD]"
OOV_TOKEN = "[OOV]"
