//! The kinds of personal data the recognizers find — the config's `Entity`
//! — which of two equally long overlapping matches keeps its range, and
//! sets of them.

pub use crate::config::Entity;

/// Which entity keeps a range when two equally long matches overlap: the
/// higher number wins. A secret or an address is the more specific reading
/// of a string; a phone number is the loosest shape of all.
pub(super) trait Precedence {
    fn priority(self) -> u8;
}

impl Precedence for Entity {
    fn priority(self) -> u8 {
        match self {
            Entity::Secret => 5,
            Entity::EmailAddress => 4,
            Entity::IbanCode => 3,
            Entity::CreditCard => 2,
            Entity::IpAddress => 1,
            Entity::PhoneNumber => 0,
        }
    }
}

fn bit(entity: Entity) -> u8 {
    let position = Entity::ALL
        .iter()
        .position(|e| *e == entity)
        .expect("every entity is in ALL");
    1 << position
}

/// A set of entities, as a bitset so it is `Copy` and free to test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EntitySet(u8);

impl EntitySet {
    #[cfg(test)]
    pub const fn empty() -> EntitySet {
        EntitySet(0)
    }

    #[cfg(test)]
    pub fn all() -> EntitySet {
        Entity::ALL.iter().copied().collect()
    }

    pub fn contains(self, entity: Entity) -> bool {
        self.0 & bit(entity) != 0
    }

    pub fn insert(&mut self, entity: Entity) {
        self.0 |= bit(entity);
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Entity> for EntitySet {
    fn from_iter<I: IntoIterator<Item = Entity>>(entities: I) -> EntitySet {
        let mut set = EntitySet::default();
        for entity in entities {
            set.insert(entity);
        }
        set
    }
}

impl From<Entity> for EntitySet {
    fn from(entity: Entity) -> EntitySet {
        EntitySet(bit(entity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_order() {
        let mut by_priority = Entity::ALL.to_vec();
        by_priority.sort_by_key(|e| std::cmp::Reverse(e.priority()));
        assert_eq!(
            by_priority,
            [
                Entity::Secret,
                Entity::EmailAddress,
                Entity::IbanCode,
                Entity::CreditCard,
                Entity::IpAddress,
                Entity::PhoneNumber
            ]
        );
    }

    #[test]
    fn set_operations() {
        let mut set = EntitySet::default();
        assert!(set.is_empty());
        set.insert(Entity::Secret);
        set.insert(Entity::EmailAddress);
        set.insert(Entity::Secret);
        assert!(set.contains(Entity::Secret) && set.contains(Entity::EmailAddress));
        assert!(!set.contains(Entity::PhoneNumber));
        assert_eq!(
            EntitySet::from(Entity::IpAddress),
            [Entity::IpAddress].into_iter().collect()
        );
    }
}
