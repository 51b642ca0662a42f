"""The paper's numbers (Vanderplaetse & Dupont 2020, "Improved Soccer Action Spotting Using Both Audio and
Video Streams", CVPRW, Tables 1 to 5), printed beside ours by the reproduction's tables."""
from __future__ import annotations

PAPER_TABLE1 = {  # model -> {T: mAP %}
    "video": {60: 66.0, 30: 58.7}, "audio": {60: 50.6, 30: 43.7}, "method 1": {60: 68.4, 30: 63.7},
    "method 2": {60: 72.6, 30: 67.3}, "method 3": {60: 73.4, 30: 69.3}, "method 4": {60: 73.7, 30: 68.8},
    "method 5": {60: 72.8, 30: 68.7}, "method 6": {60: 64.1, 30: 59.6}, "method 7": {60: 64.2, 30: 58.1}}
PAPER_TABLE2 = {  # class -> (video, audio, method 4) AP %
    "background": (97.6, 96.7, 98.0), "card": (60.5, 19.2, 63.9), "subs": (69.8, 55.1, 72.6),
    "goal": (67.7, 77.3, 84.5)}
PAPER_TABLE3 = {60: [[7673, 95, 80, 42], [178, 243, 13, 3], [175, 9, 310, 11], [91, 1, 2, 215]],
                30: [[16768, 97, 116, 43], [224, 212, 5, 0], [217, 11, 305, 4], [114, 0, 0, 209]]}
PAPER_TABLE4 = {"video": {60: 67.5, 20: 56.6}, "audio": {60: 46.8, 20: 35.9}, "method 4": {60: 75.2, 20: 75.0}}
PAPER_TABLE5 = {  # (pooling, T) -> stream -> (seg. max, seg. centre, NMS) Average-mAP %
    ("RVLAD", 60): {"video": (30.8, 41.9, 30.2), "audio": (21.8, 30.3, 22.1), "method 4": (34.0, 47.6, 33.4)},
    ("VLAD", 60): {"video": (29.6, 43.4, 29.0), "audio": (19.9, 27.1, 19.5), "method 4": (32.3, 48.7, 31.8)},
    ("VLAD", 20): {"video": (49.2, 50.2, 49.4), "audio": (30.0, 31.0, 30.0), "method 4": (54.0, 56.0, 53.6)}}
