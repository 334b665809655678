"""Imports the shipped architectures so that their ``@register`` lines run."""
from tfseqrec.models import sasrec  # noqa: F401
from tfseqrec.models import gru4rec  # noqa: F401
from tfseqrec.models import bert4rec  # noqa: F401
from tfseqrec.models import cl4srec  # noqa: F401
from tfseqrec.models import srgnn  # noqa: F401
from tfseqrec.models import hrnn  # noqa: F401
