"""Class descriptions of the ten digits, for zero-shot learning: a table of binary visual
attributes (DAP, attribute embedding) and semantic vectors (ConSE, embedding by words).

A zero-shot learner never sees an image of an unseen class; all it gets of that class is
its description. These tables are those descriptions. They were written by hand, by
looking at the shipped digits (the UCI optdigits, see digits.py) and at each class's mean
image, so they describe the digits *as these writers wrote them*: a 4 with a closed top,
a 7 with a crossbar through its stem, a 1 as a stem with a short flag, a 9 whose tail
hooks left at the bottom, a 2 on a flat base.

DIGIT_ATTRIBUTES[d, a] = 1 when digit d has attribute ATTRIBUTE_NAMES[a]:

    digit  loop_top loop_bottom top_bar flat_base vertical_stem middle_bar
           stroke_crossing curve_right curve_left diagonal right_tail
    0      1 1 0 0 0 0 0 0 0 0 0    one tall loop: closed in both halves
    1      0 0 0 0 1 0 0 0 0 0 0    a stem (the flag at its top is too short to count)
    2      0 0 0 1 0 0 0 1 0 1 0    a right-bulging arc, a diagonal, a flat base
    3      0 0 0 0 0 1 0 1 0 0 0    two right-bulging arcs meeting at a middle prong
    4      1 0 0 0 1 1 1 0 0 1 1    closed triangular top, bar crossing the stem
    5      0 0 1 0 0 0 0 1 0 0 0    a top bar, then a right-bulging bowl
    6      0 1 0 0 0 0 0 0 1 0 0    a left-bulging stroke into a bottom loop
    7      0 0 1 0 0 1 1 0 0 1 0    a top bar, a slanted stem, a crossbar through it
    8      1 1 0 0 0 0 1 0 0 0 0    two loops whose strokes cross at the waist
    9      1 0 0 0 1 0 0 0 1 0 1    a top loop, a stem down its right, hooking left

The attributes (what a positive looks like in an 8x8 image):

    loop_top         a closed loop in the upper half
    loop_bottom      a closed loop in the lower half
    top_bar          a straight horizontal stroke along the top
    flat_base        a straight horizontal stroke along the bottom
    vertical_stem    a long, nearly vertical straight stroke
    middle_bar       a horizontal stroke (or prong) at mid-height
    stroke_crossing  two strokes that cross (an X-like junction)
    curve_right      an open curve that bulges to the right, like ")"
    curve_left       an open curve that bulges to the left, like "("
    diagonal         a long slanted straight stroke
    right_tail       a stroke that hangs below a closed loop on its right side

Every row differs from every other, and for the default unseen classes of the zero-shot
experiment (0, 3, 7) every attribute is present in some seen class and absent from
another, which a learner of attributes from the seen classes needs.

The semantic vectors stand in for the word vectors of the lecture (word2vec of the class
name). Without a network or a text corpus we use a different, independent description:
how a person would tell someone, in words, to write the digit, as counts of its parts:

    holes            enclosed regions (0:1, 4:1 for the closed top, 6:1, 8:2, 9:1)
    stroke_ends      free ends of strokes (0 and 8 have none; 7 has four)
    straight_strokes straight segments (4: diagonal, stem and bar; 7: top, stem and bar)
    curved_strokes   curved segments, a loop counting as one (3 and 8: two)
    corners          sharp turns where one stroke changes direction (5: two)

DIGIT_DESCRIPTION_COUNTS[d] holds the five counts of digit d; DIGIT_SEMANTIC_VECTORS is
that table standardised per column over the ten digits (mean 0, standard deviation 1),
so that the cosine similarity ConSE uses compares how a digit departs from a typical
digit instead of being dominated by the columns with large counts. Standardising uses
the descriptions of all ten classes, never an image: in zero-shot learning every class's
description is known in advance.
"""

import numpy as np

from tlcore.datasets.world import standardise

ATTRIBUTE_NAMES = ("loop_top", "loop_bottom", "top_bar", "flat_base", "vertical_stem",
                   "middle_bar", "stroke_crossing", "curve_right", "curve_left", "diagonal",
                   "right_tail")

DIGIT_ATTRIBUTES = np.array([
    # lt lb tb fb vs mb sc cr cl di rt
    [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # 0
    [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],  # 1
    [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0],  # 2
    [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0],  # 3
    [1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1],  # 4
    [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0],  # 5
    [0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0],  # 6
    [0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0],  # 7
    [1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0],  # 8
    [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1],  # 9
], dtype=np.uint8)
DIGIT_ATTRIBUTES.flags.writeable = False

DESCRIPTION_NAMES = ("holes", "stroke_ends", "straight_strokes", "curved_strokes", "corners")

DIGIT_DESCRIPTION_COUNTS = np.array([
    # holes ends straight curved corners
    [1, 0, 0, 1, 0],  # 0
    [0, 2, 1, 0, 1],  # 1: the stem, and the corner where the flag meets it
    [0, 2, 2, 1, 1],  # 2: arc, diagonal, base; the corner at the base
    [0, 3, 0, 2, 1],  # 3: the cusp at the middle prong
    [1, 3, 3, 0, 2],  # 4
    [0, 2, 2, 1, 2],  # 5
    [1, 1, 0, 1, 0],  # 6
    [0, 4, 3, 0, 1],  # 7
    [2, 0, 0, 2, 0],  # 8
    [1, 1, 1, 1, 0],  # 9
], dtype=np.uint8)
DIGIT_DESCRIPTION_COUNTS.flags.writeable = False


DIGIT_SEMANTIC_VECTORS = standardise(DIGIT_DESCRIPTION_COUNTS)
DIGIT_SEMANTIC_VECTORS.flags.writeable = False
