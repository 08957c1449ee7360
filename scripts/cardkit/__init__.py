"""The parts of the shipped models' cards that are not the card writing itself (scripts/make_model_cards.py).

* `shipped`: which models ship, what they are benchmarked by and trained on;
* `results`: benchmark JSON -> model-index entries and the cards' results sections;
* `training`: the training section, from a train.py run or from the card written before;
* `provenance`: where the training data comes from, with the photos' licences;
* `samples`: the image each card shows;
* `readme`: the README's table of models.
"""
