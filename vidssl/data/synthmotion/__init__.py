"""SynthMotion: a procedurally generated action dataset whose classes are defined by motion.

Every ``vidssl`` command works on a fresh machine without a download because
:func:`generate_synthmotion` renders this dataset with numpy and writes it as
real H.264 ``.mp4`` files in the UCF101 layout::

    <out>/videos/<Class>/v_<Class>_g<gg>_c<cc>.mp4
    <out>/splits/classInd.txt      "<1-based index> <Class>"
    <out>/splits/trainlist01.txt   "<Class>/v_....mp4 <1-based label>"
    <out>/splits/testlist01.txt    "<Class>/v_....mp4"
    <out>/metadata.json            generator version, arguments, classes, one entry per video

Read it with ``load_records("ucf101", root=<out>/videos, annotations=<out>/splits,
split="train"|"test", split_id=1)``.

A class is a way of moving, never a look: at ``appearance_bias=0`` the actor's
shape, colour, texture and size, the background and the distractors are drawn
independently of the class. Six pairs of classes are mirror pairs: for the
same random draws one class's pose is its partner's reflected (left-right,
top-bottom, or the scale or opacity range turned over; see ``ClassSpec``), so
the two differ only in the direction of motion. Every class belongs to one of
the five motion types of TransRank's motion task (linear, projectile, local,
oscillatory, random; Table 10 of ``papers/transrank.md``).

The arrow of time. TransRank's "rev" transformation (recognise a clip played
backwards; vidssl's demo pretrains with the temporal set {1x, 2x, rev}) can
only be learned where forward and backward video differ. Real video has an
arrow of time (friction, gravity, things settling); so does SynthMotion. The
paired classes advance by ``floor(u) + ease_out(frac(u))`` cycles with
``ease_out(s) = 1 - (1 - s)**2``: flicked at the start of each cycle, the
actor glides to a stop by its end, then is flicked again. Swing is a damped
pendulum and Jump's hops lose height (amplitude falls to ``AMPLITUDE_DECAY``
within each cycle, re-kicked at the next), Throw and Bounce lose height at
every bounce, and Wander's steps shrink within each cycle. Played backwards,
all of these accelerate or gain height, which forward videos never do. Only
Jitter (independent random offsets) is statistically reversible, like a real
scene without a visible arrow. Generator version 1 had time-reverse pairs
instead (MoveLeft(u) == MoveRight(-u)): a reversed MoveLeft clip was a
natural MoveRight clip, and "rev" was learnable on Throw and Bounce only.

What still separates a pair is temporal order, never a single frame: a
crossing, zoom, fade, turn or lap sweeps its whole range once per cycle from
an offset that is uniform per video, so the position, log scale, opacity or
angle in any one frame is uniform over its range for both classes of a pair.
(A bag of a clip's frames, sorted by position, does show where the actor is
slow, and with the arrow of time that gives away the direction: a one-way
motion cannot be irreversible and look the same to such a bag both ways.)

=========  ===========  ===================================================================
Class      Motion type  What moves (screen axes: x right, y down); tempo
=========  ===========  ===================================================================
MoveLeft   linear       actor slides right -> left along a horizontal lane, slowing down; 1.0
MoveRight  linear       actor slides left -> right, slowing down (mirror of MoveLeft); 1.0
MoveUp     linear       actor slides bottom -> top along a vertical lane, slowing down; 0.8
MoveDown   linear       actor slides top -> bottom, slowing down (mirror of MoveUp); 0.8
Throw      projectile   actor flies across on a parabolic arc, lands, bounces twice; 1.6
Bounce     projectile   actor drops from high up in place and bounces, ever lower; 1.25
Approach   local        actor grows in place (comes closer), 0.45x -> 1.6x, fast then settling; 0.63
Recede     local        actor shrinks in place, 1.6x -> 0.45x, fast then settling (mirror of Approach); 0.63
RotateCW   local        actor spins clockwise in place, one turn per cycle, slowing down; 1.4
RotateCCW  local        actor spins counter-clockwise, slowing down (mirror of RotateCW); 1.4
FadeIn     local        actor appears in place, opacity 0.1 -> 1, fast then settling; 0.5
FadeOut    local        actor disappears in place, opacity 1 -> 0.1 (mirror of FadeIn); 0.5
OrbitCW    oscillatory  actor circles clockwise around a centre, one lap per cycle, slowing; 1.1
OrbitCCW   oscillatory  actor circles counter-clockwise, slowing (mirror of OrbitCW); 1.1
Swing      oscillatory  actor swings like a damped pendulum bob hung above the frame; 0.7
Jump       oscillatory  actor hops up and down in place, two hops per cycle, each lower; 1.8
Jitter     random_walk  actor trembles around a fixed spot (fast random offsets); 2.0
Wander     random_walk  actor drifts by a reflected Brownian walk, slowing within a cycle; 0.56
=========  ===========  ===================================================================

Time and speed: frame ``t`` of a video is at motion phase
``u = phase0 + speed * t / CYCLE_FRAMES``; one unit of phase is one cycle of
the class's motion (one crossing, one lap, one turn, one fade, one throw).
A video's intrinsic ``speed`` is its class's ``tempo`` times a per-video
factor, log-uniform in ``speed_range`` (default 0.8-1.25), so speeds span
0.4x-2.5x over the dataset. Actions have natural tempos (a tremble is quicker
than a drift, a hop quicker than a fade; SpeedNet's premise is that judging
playback speed means knowing them), so tempos differ between motions, but the
two classes of a mirror pair share theirs: tempo never separates a pair. A
clip played at 2x moves visibly faster than at 1x, yet a quick class at 1x can
look like a slow one at 2x: only knowing what moves tells the absolute speed.
Generator version 2 drew one speed range (0.5x-2x) for every class, which made
speed a nuisance variable independent of the class: features that learned it
grouped videos by speed, not by motion.
A crossing, zoom or fade that reaches the end of its range re-enters at the
other end (the actor jumps across the frame, back to its smallest size or
faintest opacity) and carries on.

Angles are in radians and positive means clockwise *on screen* (y points
down). Every actor carries a lighter or darker "marker" cap on its local +x side,
so rotation is visible for every shape (a square or disc alone would be
rotation-symmetric).

Each video draws its own frame size and aspect ratio, length, speed, phase,
0-2 distractor sprites that drift slowly (not class-informative), an optional
slow camera pan and an optional flicker of the background's brightness. Videos of one group
(``g<gg>``) share the actor's look and the background's look, and a whole
group goes to one split, as in UCF101, so retrieval cannot match backgrounds
across splits. ``appearance_bias`` is the probability that a group's actor
takes its class's own fixed shape and hue (a Kinetics-like variant where
appearance helps).

Everything is deterministic from ``seed``: a video's seed comes from
``(seed, class name, index within class)`` and a group's from
``(seed, class name, group)``, so the output does not depend on ``workers``
or on which other classes are generated.

Modules, each importing only those above it:

- :mod:`.seeds`     independent random streams of one seed
- :mod:`.motions`   the stage, the actor's pose per frame and the 18 motions
- :mod:`.classes`   the classes: motion, motion type, mirror partner, tempo
- :mod:`.looks`     the actor's and the background's look, drawn per group
- :mod:`.painting`  shapes, sprites and backdrops drawn with numpy and OpenCV
- :mod:`.render`    one video: its plan and its frames
- :mod:`.planning`  the plans of a class's videos: groups, splits, sizes, speeds
- :mod:`.layout`    the dataset on disk: checks, split files, metadata, generation

The H.264 writer is :func:`vidssl.data.video_writer.write_mp4`.
"""

from vidssl.data.synthmotion.classes import (
    MOTION_TYPES,
    SYNTH_CLASSES,
    ClassSpec,
    class_names,
    class_spec,
    motion_type_labels,
)
from vidssl.data.synthmotion.layout import GENERATOR_VERSION, generate_synthmotion, remove_abandoned_staging
from vidssl.data.synthmotion.looks import (
    BACKDROPS,
    MARKER_MIX,
    MIN_CONTRAST,
    SHAPES,
    TEXTURES,
    Backdrop,
    Look,
    group_scene,
    luma,
)
from vidssl.data.synthmotion.motions import (
    AMPLITUDE_DECAY,
    CYCLE_FRAMES,
    FADE_RANGE,
    SWINGS_PER_CYCLE,
    ZOOM_RANGE,
    Motion,
    Pose,
    Stage,
    approach,
    bounce,
    fade_in,
    fade_out,
    jitter,
    jump,
    move_down,
    move_left,
    move_right,
    move_up,
    orbit_ccw,
    orbit_cw,
    recede,
    rotate_ccw,
    rotate_cw,
    swing,
    throw,
    wander,
)
from vidssl.data.synthmotion.painting import MARKER_START, inside_shape, make_sprite, paint_backdrop, paint_sprite
from vidssl.data.synthmotion.planning import CLIPS_PER_GROUP, MIN_SIDE, count_test_groups, group_sizes, plan_class
from vidssl.data.synthmotion.render import VideoPlan, actor_pose, motion_phases, plan_from_entry, render_video

__all__ = [
    # the dataset on disk
    "GENERATOR_VERSION", "generate_synthmotion", "remove_abandoned_staging",
    # classes
    "MOTION_TYPES", "SYNTH_CLASSES", "ClassSpec", "class_names", "class_spec", "motion_type_labels",
    # motions
    "CYCLE_FRAMES", "ZOOM_RANGE", "FADE_RANGE", "AMPLITUDE_DECAY", "SWINGS_PER_CYCLE", "Motion", "Pose", "Stage",
    "move_left", "move_right", "move_up", "move_down", "throw", "bounce", "approach", "recede", "rotate_cw",
    "rotate_ccw", "fade_in", "fade_out", "orbit_cw", "orbit_ccw", "swing", "jump", "jitter", "wander",
    # looks and painting
    "SHAPES", "BACKDROPS", "TEXTURES", "MARKER_MIX", "MARKER_START", "MIN_CONTRAST", "Look", "Backdrop", "luma",
    "group_scene", "inside_shape", "make_sprite", "paint_sprite", "paint_backdrop",
    # one video and the plans of a dataset
    "VideoPlan", "motion_phases", "actor_pose", "render_video", "plan_from_entry",
    "CLIPS_PER_GROUP", "MIN_SIDE", "group_sizes", "count_test_groups", "plan_class",
]
